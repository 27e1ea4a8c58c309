//! Start-up errors, in one table, each with etcd 3.4's exact text and exit code.

use thiserror::Error;

/// Where an error sits in etcd's start-up, which decides how etcd prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Go's flag package: the message, then the short usage, on stderr; exit 2.
    FlagSyntax,
    /// `etcdmain: error verifying flags, <msg>. See 'etcd --help'.`; exit 1.
    VerifyFlags,
    /// A fatal log line with just the message (`C | pkg/flags: …`, `C | etcdmain: …`); exit 1.
    Fatal,
}

/// Why the server cannot start with the given flags, environment or config file.
///
/// `Display` is the message etcd prints (the part after the log prefix, i.e. the zap `error`
/// field); [`StartupError::stderr_text`] is the whole stderr text.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StartupError {
    #[error("flag provided but not defined: -{flag}")]
    FlagUndefined { flag: String },
    #[error("flag needs an argument: -{flag}")]
    FlagNeedsArgument { flag: String },
    #[error("invalid value \"{value}\" for flag -{flag}: {reason}")]
    FlagInvalid {
        flag: String,
        value: String,
        reason: String,
    },
    #[error("'{arg}' is not a valid flag")]
    NotAFlag { arg: String },
    #[error("invalid value \"{value}\" for {var}: {reason}")]
    EnvInvalid {
        var: String,
        value: String,
        reason: String,
    },
    #[error(
        "conflicting environment variable \"{var}\" is shadowed by corresponding command-line flag (either unset environment variable or disable flag)"
    )]
    EnvConflict { var: String },
    #[error("open {path}: {reason}")]
    ConfigFileRead { path: String, reason: String },
    #[error("error converting YAML to JSON: yaml: {reason}")]
    ConfigFileSyntax { reason: String },
    #[error(
        "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {found} into Go struct field configYAML.{key} of type {expected}"
    )]
    ConfigFileValue {
        key: String,
        found: String,
        expected: String,
    },
    #[error("invalid value \"{value}\" for {key} in the config file: {reason}")]
    ConfigFileInvalid {
        key: String,
        value: String,
        reason: String,
    },
    #[error(
        "--election-timeout[{election_ms}ms] should be at least as 5 times as --heartbeat-interval[{heartbeat_ms}ms]"
    )]
    ElectionTooShort { election_ms: u64, heartbeat_ms: u64 },
    #[error("--election-timeout[{election_ms}ms] is too long, and should be set less than 50000ms")]
    ElectionTooLong { election_ms: u64 },
    #[error(
        "multiple discovery or bootstrap flags are set. Choose one of \"initial-cluster\", \"discovery\" or \"discovery-srv\""
    )]
    MultipleBootstrap,
    #[error("--advertise-client-urls is required when --listen-client-urls is set explicitly")]
    AdvertiseClientRequired,
    #[error("expected IP in URL for binding ({url})")]
    BindNotIp { url: String },
    #[error("unknown auto-compaction-mode \"{mode}\"")]
    UnknownCompactionMode { mode: String },
    #[error(
        "TLS key/cert (--cert-file, --key-file) must be provided for client url {url} with HTTPS scheme"
    )]
    ClientTlsMissing { url: String },
    /// ringkv's own: etcd would verify client certificates against the system roots.
    #[error(
        "ringkv: --client-cert-auth needs --trusted-ca-file (the CA that signs client certificates)"
    )]
    ClientCaMissing,
    #[error("error parsing CompactionRetention: {reason}")]
    CompactionRetention { reason: String },
    #[error("unknown logger option \"{logger}\"")]
    UnknownLogger { logger: String },
    #[error("unknown level \"{level}\"")]
    UnknownLogLevel { level: String },
    #[error("error setting up initial cluster: {reason}")]
    InitialCluster { reason: String },
    #[error("couldn't find local name \"{name}\" in the initial cluster configuration")]
    NameNotInCluster { name: String },
    #[error(
        "--initial-cluster has {cluster_entry} but missing from --initial-advertise-peer-urls={advertised} ({detail})"
    )]
    AdvertisedPeerMismatch {
        cluster_entry: String,
        advertised: String,
        /// Go's comparison detail, e.g. `resolved urls: "a" != "b"`.
        detail: String,
    },
    /// ringkv's own: the flag exists in etcd but its feature is not built yet.
    #[error("ringkv: --{flag} is not supported yet ({feature})")]
    NotSupportedYet { flag: String, feature: String },
}

impl StartupError {
    /// The process exit code etcd uses for this error.
    pub fn exit_code(&self) -> i32 {
        match self.stage() {
            Stage::FlagSyntax => 2,
            Stage::VerifyFlags | Stage::Fatal => 1,
        }
    }

    pub fn stage(&self) -> Stage {
        use StartupError::*;
        match self {
            FlagUndefined { .. } | FlagNeedsArgument { .. } | FlagInvalid { .. } => {
                Stage::FlagSyntax
            }
            // etcd panics on an unknown log level (exit 2, Go panic text); we keep the code.
            UnknownLogLevel { .. } => Stage::FlagSyntax,
            NotAFlag { .. }
            | EnvInvalid { .. }
            | ConfigFileRead { .. }
            | ConfigFileSyntax { .. }
            | ConfigFileValue { .. }
            | ConfigFileInvalid { .. }
            | ElectionTooShort { .. }
            | ElectionTooLong { .. }
            | MultipleBootstrap
            | AdvertiseClientRequired
            | BindNotIp { .. }
            | UnknownCompactionMode { .. }
            | UnknownLogger { .. } => Stage::VerifyFlags,
            EnvConflict { .. }
            | InitialCluster { .. }
            | NameNotInCluster { .. }
            | AdvertisedPeerMismatch { .. }
            | CompactionRetention { .. }
            | ClientTlsMissing { .. }
            | ClientCaMissing
            | NotSupportedYet { .. } => Stage::Fatal,
        }
    }

    /// Everything to print on stderr, laid out like etcd 3.4 (without its log prefix of
    /// timestamp, level and package).
    pub fn stderr_text(&self) -> String {
        match self {
            StartupError::UnknownLogLevel { .. } => format!("panic: {self}\n"),
            _ => match self.stage() {
                Stage::FlagSyntax => format!("{self}\n{}", crate::cli::SHORT_USAGE),
                Stage::VerifyFlags => {
                    let mut text = format!("error verifying flags, {self}. See 'etcd --help'.\n");
                    if matches!(self, StartupError::AdvertiseClientRequired) {
                        text.push_str(
                            "When listening on specific address(es), this etcd process must advertise accessible url(s) to each connected client.\n",
                        );
                    }
                    text
                }
                Stage::Fatal => format!("{self}\n"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_conflict_text_is_etcds() {
        let e = StartupError::EnvConflict {
            var: "ETCD_NAME".into(),
        };
        assert_eq!(
            e.to_string(),
            "conflicting environment variable \"ETCD_NAME\" is shadowed by corresponding command-line flag (either unset environment variable or disable flag)"
        );
        assert_eq!(e.exit_code(), 1);
    }

    #[test]
    fn verify_errors_are_wrapped() {
        let e = StartupError::ElectionTooLong { election_ms: 60000 };
        assert_eq!(
            e.stderr_text(),
            "error verifying flags, --election-timeout[60000ms] is too long, and should be set less than 50000ms. See 'etcd --help'.\n"
        );
    }
}
