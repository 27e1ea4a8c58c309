//! ringkv's command line: etcd's server flags (Go flag syntax: `-name` or `--name`, bools take
//! `=value`), `ETCD_*` environment, config file, help, version and the subcommand skeleton.
//!
//! [`parse`] is pure: it gets the arguments and environment from the caller, never reads the
//! process environment, prints or exits. `main` acts on the returned [`Invocation`].

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Arg, ArgAction, ArgMatches, Command};

use crate::config::flags::{self, FLAGS, Group, Kind, LEGACY_IGNORED};
use crate::config::{RawSettings, Source, env, file, validate};
pub use crate::config::{ServerConfig, StartupError};

use crate::version::ETCD_API_VERSION;

/// What a successful parse asks the process to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Invocation {
    /// Run the server.
    Server(Box<ServerConfig>),
    /// `ringkv debug wal|store <data-dir>` or `debug db <file>`: what the WAL or a store
    /// file holds. `path` is the data dir for the WAL, the store file itself otherwise.
    Debug {
        part: crate::debug::Part,
        path: std::path::PathBuf,
    },
    /// `ringkv snapshot restore <file>`: a new data dir from a snapshot file.
    SnapshotRestore(Box<crate::restore::RestoreOptions>),
    /// Print `text` on `stream` and exit with `exit_code` (help, version, unbuilt subcommands).
    Print {
        text: String,
        exit_code: i32,
        stream: Stream,
    },
}

/// Where an [`Invocation::Print`] text goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// A parse result plus warnings for the caller to log (unrecognized `ETCD_*` variables,
/// ignored legacy flags), in etcd's wording.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub invocation: Invocation,
    pub warnings: Vec<String>,
}

/// Parses `args` (with the program name first, as `std::env::args()` gives) and `env` (as
/// `std::env::vars()` gives) the way etcd 3.4 does, plus ringkv's own `--cores`.
pub fn parse<I, T>(
    args: I,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Parsed, StartupError>
where
    I: IntoIterator<Item = T>,
    T: Into<String>,
{
    let args: Vec<String> = args.into_iter().map(Into::into).collect();
    let env: Vec<(String, String)> = env.into_iter().collect();
    let rest = args.get(1..).unwrap_or_default();

    if rest
        .first()
        .is_some_and(|first| SUBCOMMANDS.contains(&first.as_str()))
    {
        return Ok(Parsed {
            invocation: subcommand(rest),
            warnings: Vec::new(),
        });
    }

    let matches = server_command()
        .try_get_matches_from(std::iter::once("ringkv".to_string()).chain(go_style_args(rest)))
        .map_err(flag_error)?;

    let mut warnings = Vec::new();
    for name in LEGACY_IGNORED {
        if matches.get_one::<String>(name).is_some() {
            warnings.push(format!(
                "flag \"-{name}\" is no longer supported - ignoring."
            ));
        }
    }
    if let Some(first) = matches
        .get_many::<String>("args")
        .and_then(|mut a| a.next())
    {
        // The catch-all positional also swallows unknown `--flags`; tell them apart as Go does.
        return Err(match first.strip_prefix("--") {
            Some(body) if !body.is_empty() => StartupError::FlagUndefined {
                flag: body.split('=').next().unwrap_or(body).to_string(),
            },
            _ => StartupError::NotAFlag { arg: first.clone() },
        });
    }
    if matches.get_flag("help") {
        return Ok(print(help_text(), 0, Stream::Stdout, warnings));
    }
    if matches.get_flag("version") {
        return Ok(print(version_text(), 0, Stream::Stdout, warnings));
    }

    let mut raw = RawSettings::default();
    for (index, spec) in FLAGS.iter().enumerate() {
        if let Some(value) = matches.get_one::<String>(spec.name) {
            raw.set(index, value.clone(), Source::CommandLine);
        }
    }

    let config_file = match raw.get("config-file") {
        (path, Source::CommandLine) => Some(path.to_string()),
        _ => env
            .iter()
            .find(|(k, v)| k == env::CONFIG_FILE_ENV && !v.is_empty())
            .map(|(_, v)| v.clone()),
    };
    let config = match config_file {
        Some(path) => {
            // etcd ignores every other flag and variable when a config file is given.
            let mut from_file = RawSettings::default();
            if let Some(index) = flags::index_of("config-file") {
                from_file.set(index, path.clone(), Source::CommandLine);
            }
            file::load(&mut from_file, &path)?;
            validate::build(&from_file, false)?
        }
        None => {
            warnings.extend(env::apply(&mut raw, &env)?);
            validate::build(&raw, true)?
        }
    };
    Ok(Parsed {
        invocation: Invocation::Server(Box::new(config)),
        warnings,
    })
}

fn print(text: String, exit_code: i32, stream: Stream, warnings: Vec<String>) -> Parsed {
    Parsed {
        invocation: Invocation::Print {
            text,
            exit_code,
            stream,
        },
        warnings,
    }
}

/// The server command: every table flag, the legacy switches, help/version, and positionals
/// (which etcd rejects, so they are collected to be reported).
fn server_command() -> Command {
    let mut cmd = Command::new("ringkv")
        .disable_help_flag(true)
        .disable_version_flag(true)
        .args_override_self(true)
        .arg(
            Arg::new("help")
                .long("help")
                .short('h')
                .action(ArgAction::SetTrue),
        )
        .arg(
            Arg::new("version")
                .long("version")
                .action(ArgAction::SetTrue),
        )
        .arg(
            Arg::new("args")
                .num_args(0..)
                .trailing_var_arg(true)
                .allow_hyphen_values(true),
        );
    for spec in FLAGS {
        let arg = Arg::new(spec.name).long(spec.name).action(ArgAction::Set);
        cmd = cmd.arg(if spec.kind == Kind::Bool {
            switch(arg)
        } else {
            arg.num_args(1).allow_hyphen_values(true)
        });
    }
    for name in LEGACY_IGNORED {
        cmd = cmd.arg(switch(Arg::new(*name).long(*name).action(ArgAction::Set)));
    }
    cmd
}

/// Go bool flag syntax: `--flag` means true; a value must be attached with `=`.
fn switch(arg: Arg) -> Arg {
    arg.num_args(0..=1)
        .require_equals(true)
        .default_missing_value("true")
}

/// Go's flag package takes `-name` like `--name`; clap needs two dashes. Rewrites flag tokens
/// up to the first positional or `--`, leaving flag values alone.
fn go_style_args(args: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut expecting_value = false;
    let mut flags_done = false;
    for arg in args {
        if flags_done || expecting_value {
            expecting_value = false;
            out.push(arg.clone());
            continue;
        }
        if arg == "--" || !arg.starts_with('-') || arg == "-" {
            flags_done = true;
            out.push(arg.clone());
            continue;
        }
        let body = arg.trim_start_matches('-');
        let (name, has_value) = match body.split_once('=') {
            Some((name, _)) => (name, true),
            None => (body, false),
        };
        expecting_value = !has_value && flags::find(name).is_some_and(|f| f.takes_value());
        out.push(if name == "h" && !has_value {
            "--help".to_string()
        } else {
            format!("--{body}")
        });
    }
    out
}

/// Maps clap's parse errors to Go flag-package messages.
fn flag_error(err: clap::Error) -> StartupError {
    let invalid_arg = match err.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => s.clone(),
        _ => String::new(),
    };
    let name = invalid_arg
        .split([' ', '='])
        .next()
        .unwrap_or_default()
        .trim_start_matches('-')
        .to_string();
    match err.kind() {
        ErrorKind::UnknownArgument => StartupError::FlagUndefined { flag: name },
        ErrorKind::InvalidValue | ErrorKind::NoEquals | ErrorKind::WrongNumberOfValues => {
            match err.get(ContextKind::InvalidValue) {
                Some(ContextValue::String(v)) if !v.is_empty() => StartupError::FlagInvalid {
                    flag: name,
                    value: v.clone(),
                    reason: "invalid value".to_string(),
                },
                _ => StartupError::FlagNeedsArgument { flag: name },
            }
        }
        _ => StartupError::FlagInvalid {
            flag: name,
            value: String::new(),
            reason: err.kind().to_string(),
        },
    }
}

/// The short usage etcd prints after a flag syntax error (and at the top of `--help`).
pub const SHORT_USAGE: &str = "Usage:

  ringkv [flags]
    Start a ringkv (etcd-compatible) server.

  ringkv --version
    Print the ringkv version and the etcd API version it serves.

  ringkv -h | --help
    Print this help, with every flag.

  ringkv --config-file
    Read the server configuration from a YAML file; other flags and ETCD_* variables are then ignored.

  ringkv gateway
    Run the stateless TCP pass-through proxy (not built yet).

  ringkv grpc-proxy
    Run the stateless gRPC L7 reverse proxy (not built yet).

";

/// `--help`: the short usage, then every flag by etcd's groups with its default.
pub fn help_text() -> String {
    let mut out = String::from(SHORT_USAGE);
    for group in Group::ORDER {
        out.push_str(&format!("\n{}:\n", group.title()));
        for spec in FLAGS.iter().filter(|f| f.group == group) {
            let default = match spec.name {
                "max-concurrent-streams" => "math.MaxUint32",
                flags::CORES => "all online CPUs",
                _ => spec.default,
            };
            out.push_str(&format!(
                "  --{} '{}'\n    {}",
                spec.name, default, spec.help
            ));
            if let flags::Support::NotYet(feature) = spec.support {
                out.push_str(&format!(" [ringkv: not supported yet ({feature})]"));
            }
            out.push('\n');
        }
        if group == Group::Unsafe {
            out.push_str(
                "\nCAUTION: unsafe flags can break the guarantees of the consensus protocol!\n",
            );
        }
    }
    out.push_str(
        "\nEvery flag can also be set by its environment variable ETCD_<FLAG_IN_UPPER_SNAKE_CASE>\n\
         (e.g. ETCD_INITIAL_CLUSTER); giving both is an error. --cores reads RINGKV_CORES.\n",
    );
    out
}

/// `--version`, in etcd's layout.
pub fn version_text() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    format!(
        "ringkv Version: {}\netcd API Version: {}\nRust Version: {}\nOS/Arch: {}/{}\n",
        crate::version::RINGKV_VERSION,
        ETCD_API_VERSION,
        option_env!("RINGKV_RUSTC_VERSION")
            .unwrap_or(concat!(env!("CARGO_PKG_RUST_VERSION"), " or newer")),
        std::env::consts::OS,
        arch,
    )
}

const SUBCOMMANDS: &[&str] = &["gateway", "grpc-proxy", "snapshot", "debug"];

/// etcd's subcommands; all parse their flags and then report that they are not built yet.
fn subcommand_tree() -> Command {
    let value = |name: &'static str| Arg::new(name).long(name).action(ArgAction::Set);
    let switch_arg = |name: &'static str| switch(Arg::new(name).long(name).action(ArgAction::Set));
    let gateway_start = Command::new("start")
        .about("Start the TCP pass-through proxy")
        .args([
            value("endpoints"),
            value("listen-addr"),
            value("discovery-srv"),
            value("discovery-srv-name"),
            switch_arg("insecure-discovery"),
            value("retry-delay"),
            value("trusted-ca-file"),
        ]);
    let proxy_start = Command::new("start")
        .about("Start the gRPC L7 reverse proxy")
        .args([
            value("endpoints"),
            value("listen-addr"),
            value("discovery-srv"),
            value("discovery-srv-name"),
            value("metrics-addr"),
            value("advertise-client-url"),
            value("resolver-prefix"),
            value("resolver-ttl"),
            value("namespace"),
            switch_arg("enable-pprof"),
            value("data-dir"),
            value("cert"),
            value("key"),
            value("cacert"),
            switch_arg("insecure-skip-tls-verify"),
            value("cert-file"),
            value("key-file"),
            value("trusted-ca-file"),
            switch_arg("auto-tls"),
            value("max-send-bytes"),
            value("max-recv-bytes"),
            value("max-concurrent-streams"),
            value("experimental-leasing-prefix"),
            switch_arg("experimental-serializable-ordering"),
            switch_arg("debug"),
        ]);
    Command::new("ringkv")
        .subcommand_required(true)
        .disable_version_flag(true)
        .args_override_self(true)
        .subcommand(
            Command::new("gateway")
                .about("TCP pass-through proxy")
                .subcommand_required(true)
                .subcommand(gateway_start),
        )
        .subcommand(
            Command::new("grpc-proxy")
                .about("gRPC L7 reverse proxy")
                .subcommand_required(true)
                .subcommand(proxy_start),
        )
        .subcommand(
            Command::new("snapshot")
                .about("Snapshot tools")
                .subcommand_required(true)
                .subcommand(
                    Command::new("restore")
                        .about("Restore a data dir from a snapshot file")
                        .arg(Arg::new("file").required(true))
                        .args([
                            value("data-dir"),
                            value("wal-dir"),
                            value("name"),
                            value("initial-cluster"),
                            value("initial-cluster-token"),
                            value("initial-advertise-peer-urls"),
                            switch_arg("skip-hash-check"),
                        ]),
                ),
        )
        .subcommand(
            Command::new("debug")
                .about("Inspect a data dir")
                .subcommand_required(true)
                .subcommand(
                    Command::new("wal")
                        .about("Print the WAL's segments and records of <dir> (a data dir)")
                        .arg(Arg::new("dir").required(true)),
                )
                .subcommand(
                    Command::new("store")
                        .about("Print the store's size, pages, tree and revision of <dir> (a data dir), and check it")
                        .arg(Arg::new("dir").required(true))
                        .args(listing_args()),
                )
                .subcommand(
                    Command::new("db")
                        .about("The same for a store file <file>, e.g. a saved snapshot")
                        .arg(Arg::new("file").required(true))
                        .args(listing_args()),
                ),
        )
}

/// `snapshot restore`'s flags, with etcdctl's defaults and checks.
fn restore_options(m: &clap::ArgMatches) -> Result<crate::restore::RestoreOptions, String> {
    use crate::config::values;
    let mut options = crate::restore::RestoreOptions::default();
    let text = |name: &str| m.get_one::<String>(name).filter(|s| !s.is_empty());
    options.file = text("file").map(Into::into).unwrap_or_default();
    if let Some(name) = text("name") {
        options.name = name.clone();
    }
    options.data_dir = text("data-dir").map(Into::into);
    options.wal_dir = text("wal-dir").map(Into::into);
    if let Some(token) = text("initial-cluster-token") {
        options.initial_cluster_token = token.clone();
    }
    if let Some(cluster) = text("initial-cluster") {
        options.initial_cluster = values::parse_initial_cluster(cluster)?
            .iter()
            .map(|(name, url)| (name.clone(), values::url_text(url)))
            .collect();
    }
    if let Some(advertised) = text("initial-advertise-peer-urls") {
        // etcd checks them against the member's --initial-cluster entries.
        let mut advertised: Vec<String> = values::parse_urls(advertised)?
            .iter()
            .map(values::url_text)
            .collect();
        let mut listed: Vec<String> = options
            .initial_cluster
            .iter()
            .filter(|(name, _)| name == &options.name)
            .map(|(_, url)| url.clone())
            .collect();
        advertised.sort();
        listed.sort();
        if advertised != listed {
            return Err(format!(
                "--initial-cluster has {}={} but missing from --initial-advertise-peer-urls={} ",
                options.name,
                listed.join(","),
                advertised.join(",")
            ));
        }
    }
    options.skip_hash_check = m
        .get_one::<String>("skip-hash-check")
        .is_some_and(|v| v == "true");
    Ok(options)
}

fn subcommand(args: &[String]) -> Invocation {
    let argv = std::iter::once("ringkv".to_string()).chain(args.iter().cloned());
    match subcommand_tree().try_get_matches_from(argv) {
        Ok(matches) => {
            if let Some(("debug", debug)) = matches.subcommand()
                && let Some((part, args)) = debug.subcommand()
            {
                return debug_invocation(part, args);
            }
            if let Some(("snapshot", snapshot)) = matches.subcommand()
                && let Some(("restore", restore)) = snapshot.subcommand()
            {
                return match restore_options(restore) {
                    Ok(options) => Invocation::SnapshotRestore(Box::new(options)),
                    Err(text) => Invocation::Print {
                        text: format!("Error: {text}\n"),
                        exit_code: 1,
                        stream: Stream::Stderr,
                    },
                };
            }
            let what = subcommand_path(&matches).join(" ");
            Invocation::Print {
                text: format!("ringkv: {what} is not built yet\n"),
                exit_code: 2,
                stream: Stream::Stderr,
            }
        }
        Err(err) => {
            let (exit_code, stream) = if err.use_stderr() {
                (2, Stream::Stderr)
            } else {
                (0, Stream::Stdout)
            };
            Invocation::Print {
                text: err.render().to_string(),
                exit_code,
                stream,
            }
        }
    }
}

/// `--pages`, `--keys`, `--rev` and `--prefix` of `debug store` and `debug db`.
fn listing_args() -> [Arg; 4] {
    [
        Arg::new("pages")
            .long("pages")
            .action(ArgAction::SetTrue)
            .help("List every page run: what it holds, free or pending"),
        Arg::new("keys")
            .long("keys")
            .action(ArgAction::SetTrue)
            .help("List the live keys at --rev (default: the latest revision)"),
        Arg::new("rev")
            .long("rev")
            .value_parser(clap::value_parser!(i64))
            .default_value("0")
            .help("Revision for --keys"),
        Arg::new("prefix")
            .long("prefix")
            .default_value("")
            .help("Only keys starting with this, for --keys"),
    ]
}

fn debug_invocation(part: &str, args: &ArgMatches) -> Invocation {
    use crate::debug::{Part, store::Listing};
    let text = |name: &str| args.get_one::<String>(name).cloned().unwrap_or_default();
    let listing = || Listing {
        pages: args.get_flag("pages"),
        keys: args.get_flag("keys").then(|| {
            (
                args.get_one::<i64>("rev").copied().unwrap_or(0),
                text("prefix"),
            )
        }),
    };
    let (part, path) = match part {
        "wal" => (Part::Wal, text("dir").into()),
        "store" => (
            Part::Store(listing()),
            std::path::Path::new(&text("dir")).join("member/snap/db"),
        ),
        _ => (Part::Store(listing()), text("file").into()),
    };
    Invocation::Debug { part, path }
}

fn subcommand_path(matches: &ArgMatches) -> Vec<String> {
    let mut path = Vec::new();
    let mut current = matches;
    while let Some((name, sub)) = current.subcommand() {
        path.push(name.to_string());
        current = sub;
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::debug;
    use std::time::Duration;

    fn run(args: &[&str], env: &[(&str, &str)]) -> Result<Parsed, StartupError> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse(std::iter::once("ringkv").chain(args.iter().copied()), env)
    }

    fn server(args: &[&str], env: &[(&str, &str)]) -> ServerConfig {
        match run(args, env).map(|p| p.invocation) {
            Ok(Invocation::Server(config)) => *config,
            other => panic!("expected a server config, got {other:?}"),
        }
    }

    fn error(args: &[&str], env: &[(&str, &str)]) -> StartupError {
        match run(args, env) {
            Err(e) => e,
            Ok(p) => panic!("expected an error, got {p:?}"),
        }
    }

    #[test]
    fn defaults_match_etcd() {
        let c = server(&[], &[]);
        assert_eq!(c.name, "default");
        assert_eq!(c.data_dir, std::path::PathBuf::from("default.etcd"));
        assert_eq!(c.initial_cluster_token, "etcd-cluster");
        assert_eq!(c.listen_client_urls[0].as_str(), "http://localhost:2379/");
    }

    #[test]
    fn data_dir_follows_name() {
        let c = server(
            &[
                "--name",
                "n1",
                "--initial-cluster",
                "n1=http://localhost:2380",
            ],
            &[],
        );
        assert_eq!(c.data_dir, std::path::PathBuf::from("n1.etcd"));
    }

    #[test]
    fn single_dash_and_equals_forms() {
        let c = server(
            &["-name=n1", "-initial-cluster", "n1=http://localhost:2380"],
            &[],
        );
        assert_eq!(c.name, "n1");
    }

    #[test]
    fn env_sets_flags_and_conflicts_are_fatal() {
        let c = server(
            &[],
            &[
                ("ETCD_NAME", "e1"),
                ("ETCD_INITIAL_CLUSTER", "e1=http://localhost:2380"),
            ],
        );
        assert_eq!(c.name, "e1");
        let e = error(&["--name", "b"], &[("ETCD_NAME", "a")]);
        assert_eq!(
            e,
            StartupError::EnvConflict {
                var: "ETCD_NAME".into()
            }
        );
        assert_eq!(e.exit_code(), 1);
        // etcd treats an empty variable as a conflict too.
        assert!(matches!(
            error(&["--name", "b"], &[("ETCD_NAME", "")]),
            StartupError::EnvConflict { .. }
        ));
    }

    #[test]
    fn unknown_env_is_a_warning() {
        let parsed = run(&[], &[("ETCD_BOGUS", "1"), ("HOME", "/root")]);
        assert_eq!(
            parsed.map(|p| p.warnings),
            Ok(vec![
                "unrecognized environment variable ETCD_BOGUS=1".to_string()
            ])
        );
    }

    #[test]
    fn bad_env_value() {
        let e = error(&[], &[("ETCD_SNAPSHOT_COUNT", "abc")]);
        assert_eq!(
            e.to_string(),
            "invalid value \"abc\" for ETCD_SNAPSHOT_COUNT: parse error"
        );
        assert_eq!(e.exit_code(), 1);
    }

    #[test]
    fn flag_syntax_errors_like_go() {
        let e = error(&["--bogus-flag", "1"], &[]);
        assert_eq!(e.to_string(), "flag provided but not defined: -bogus-flag");
        assert_eq!(e.exit_code(), 2);
        assert_eq!(
            error(&["--name"], &[]).to_string(),
            "flag needs an argument: -name"
        );
        assert_eq!(
            error(&["--snapshot-count", "abc"], &[]).to_string(),
            "invalid value \"abc\" for flag -snapshot-count: parse error"
        );
        assert_eq!(
            error(&["--initial-cluster-state", "bogus"], &[]).to_string(),
            "invalid value \"bogus\" for flag -initial-cluster-state: invalid value"
        );
        assert_eq!(
            error(&["--listen-client-urls", "foo"], &[]).to_string(),
            "invalid value \"foo\" for flag -listen-client-urls: URL scheme must be http, https, unix, or unixs: foo"
        );
        // A Go bool takes its value only with '='.
        assert_eq!(
            error(&["--enable-v2", "false"], &[]).to_string(),
            "'false' is not a valid flag"
        );
        assert_eq!(error(&["foo"], &[]).exit_code(), 1);
    }

    #[test]
    fn election_checks() {
        let e = error(
            &["--heartbeat-interval", "300", "--election-timeout", "1000"],
            &[],
        );
        assert_eq!(
            e.to_string(),
            "--election-timeout[1000ms] should be at least as 5 times as --heartbeat-interval[300ms]"
        );
        let e = error(&["--election-timeout", "60000"], &[]);
        assert_eq!(
            e.to_string(),
            "--election-timeout[60000ms] is too long, and should be set less than 50000ms"
        );
    }

    #[test]
    fn bootstrap_checks() {
        let e = error(
            &[
                "--name",
                "x",
                "--initial-cluster",
                "y=http://127.0.0.1:2380",
            ],
            &[],
        );
        assert_eq!(
            e.to_string(),
            "couldn't find local name \"x\" in the initial cluster configuration"
        );
        let e = error(
            &[
                "--initial-cluster",
                "default=http://127.0.0.1:23380",
                "--initial-advertise-peer-urls",
                "http://127.0.0.1:23381",
            ],
            &[],
        );
        assert_eq!(
            e.to_string(),
            "--initial-cluster has default=http://127.0.0.1:23380 but missing from --initial-advertise-peer-urls=http://127.0.0.1:23381 (resolved urls: \"http://127.0.0.1:23381\" != \"http://127.0.0.1:23380\")"
        );
        let e = error(
            &[
                "--discovery",
                "http://d.example/x",
                "--discovery-srv",
                "example.com",
            ],
            &[],
        );
        assert_eq!(e, StartupError::MultipleBootstrap);
        let e = error(&["--initial-cluster", "x=foo"], &[]);
        assert_eq!(
            e.to_string(),
            "error setting up initial cluster: URL scheme must be http, https, unix, or unixs: foo"
        );
        let e = error(&["--listen-client-urls", "http://127.0.0.1:2379"], &[]);
        assert_eq!(e, StartupError::AdvertiseClientRequired);
        let e = error(
            &[
                "--listen-client-urls",
                "http://example.com:2379",
                "--advertise-client-urls",
                "http://127.0.0.1:2379",
            ],
            &[],
        );
        assert_eq!(
            e.to_string(),
            "expected IP in URL for binding (http://example.com:2379)"
        );
        assert_eq!(
            error(&["--logger", "bogus"], &[]).to_string(),
            "unknown logger option \"bogus\""
        );
    }

    #[test]
    fn grpc_flags_shape_every_connection_as_etcds() {
        let defaults = server(&[], &[]).grpc_connection();
        assert_eq!(defaults.max_concurrent_streams, u32::MAX);
        assert_eq!(defaults.max_recv_message_size, 2 * 1024 * 1024);
        assert_eq!(defaults.keepalive_min_time, Duration::from_secs(5));
        assert_eq!(defaults.keepalive_interval, Some(Duration::from_secs(7200)));
        assert_eq!(defaults.keepalive_timeout, Duration::from_secs(20));
        let set = server(
            &[
                "--max-concurrent-streams=10",
                "--max-request-bytes=1000",
                "--grpc-keepalive-min-time=1s",
                "--grpc-keepalive-interval=30s",
                "--grpc-keepalive-timeout=3s",
            ],
            &[],
        )
        .grpc_connection();
        assert_eq!(set.max_concurrent_streams, 10);
        assert_eq!(set.max_recv_message_size, 1000 + 512 * 1024);
        assert_eq!(set.keepalive_min_time, Duration::from_secs(1));
        assert_eq!(set.keepalive_interval, Some(Duration::from_secs(30)));
        assert_eq!(set.keepalive_timeout, Duration::from_secs(3));
        // As etcd: 0 leaves grpc-go's defaults in place (a 5 min ping policy; keepalive
        // parameters only when both are set).
        let zero = server(
            &["--grpc-keepalive-min-time=0", "--grpc-keepalive-timeout=0"],
            &[],
        )
        .grpc_connection();
        assert_eq!(zero.keepalive_min_time, Duration::from_secs(300));
        assert_eq!(zero.keepalive_interval, Some(Duration::from_secs(7200)));
        assert_eq!(zero.keepalive_timeout, Duration::from_secs(20));
    }

    #[test]
    fn not_supported_yet() {
        let e = error(&["--pre-vote"], &[]);
        assert_eq!(
            e.to_string(),
            "ringkv: --pre-vote is not supported yet (raft tuning)"
        );
        // The default value given explicitly is fine.
        server(
            &[
                "--pre-vote=false",
                "--enable-v2=false",
                "--enable-grpc-gateway=false",
            ],
            &[],
        );
        assert_eq!(
            error(&["--enable-v2"], &[]).to_string(),
            "ringkv: --enable-v2 is not supported yet (v2 API)"
        );
        // Client TLS is built; peer TLS comes with clustering.
        let e = error(
            &[
                "--listen-peer-urls",
                "https://127.0.0.1:2380",
                "--initial-advertise-peer-urls",
                "https://127.0.0.1:2380",
                "--initial-cluster",
                "default=https://127.0.0.1:2380",
            ],
            &[],
        );
        assert_eq!(
            e.to_string(),
            "ringkv: --listen-peer-urls is not supported yet (peer TLS)"
        );
        let e = error(
            &[
                "--name",
                "a",
                "--initial-cluster",
                "a=http://127.0.0.1:2380,b=http://127.0.0.1:2381",
                "--initial-advertise-peer-urls",
                "http://127.0.0.1:2380",
            ],
            &[],
        );
        assert_eq!(
            e.to_string(),
            "ringkv: --initial-cluster is not supported yet (clustering)"
        );
        assert_eq!(
            error(&["--logger", "capnslog"], &[]).to_string(),
            "ringkv: --logger is not supported yet (capnslog logging)"
        );
    }

    #[test]
    fn legacy_flags_warn() {
        let parsed = run(&["--snapshot"], &[]);
        assert_eq!(
            parsed.map(|p| p.warnings),
            Ok(vec![
                "flag \"-snapshot\" is no longer supported - ignoring.".to_string()
            ])
        );
        assert_eq!(
            error(&["--cluster-active-size", "3"], &[]).to_string(),
            "'3' is not a valid flag"
        );
    }

    #[test]
    fn cores_flag_and_env() {
        assert_eq!(server(&["--cores", "3"], &[]).cores, 3);
        assert_eq!(server(&[], &[("RINGKV_CORES", "2")]).cores, 2);
        assert!(matches!(
            error(&["--cores", "0"], &[]),
            StartupError::FlagInvalid { .. }
        ));
    }

    #[test]
    fn help_version_and_subcommands() {
        let Ok(Parsed {
            invocation:
                Invocation::Print {
                    text,
                    exit_code: 0,
                    stream: Stream::Stdout,
                },
            ..
        }) = run(&["--help"], &[])
        else {
            panic!("help");
        };
        for flag in [
            "--initial-cluster-token",
            "--heartbeat-interval",
            "--cores",
            "--proxy-read-timeout",
        ] {
            assert!(text.contains(flag), "{flag} missing from help");
        }
        let Ok(Parsed {
            invocation: Invocation::Print { text, .. },
            ..
        }) = run(&["-version"], &[])
        else {
            panic!("version");
        };
        assert!(text.contains("etcd API Version: 3.5"));
        let debug = |args: &[&str]| match run(args, &[]).map(|p| p.invocation) {
            Ok(Invocation::Debug { part, path }) => (part, path),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            debug(&["debug", "wal", "/tmp/x"]),
            (debug::Part::Wal, "/tmp/x".into())
        );
        assert_eq!(
            debug(&["debug", "store", "/tmp/x"]),
            (
                debug::Part::Store(debug::store::Listing::default()),
                "/tmp/x/member/snap/db".into()
            )
        );
        assert_eq!(
            debug(&[
                "debug", "db", "b.db", "--pages", "--keys", "--rev", "7", "--prefix", "a/"
            ]),
            (
                debug::Part::Store(debug::store::Listing {
                    pages: true,
                    keys: Some((7, "a/".into())),
                }),
                "b.db".into()
            )
        );
    }

    #[test]
    fn snapshot_restore_takes_etcdctls_flags_and_defaults() {
        let restore = |args: &[&str]| match run(args, &[]).map(|p| p.invocation) {
            Ok(Invocation::SnapshotRestore(options)) => Ok(*options),
            Ok(Invocation::Print { text, .. }) => Err(text),
            other => panic!("{other:?}"),
        };
        let defaults = restore(&["snapshot", "restore", "b.db"]).unwrap();
        assert_eq!(defaults.file, std::path::PathBuf::from("b.db"));
        assert_eq!(defaults.name, "default");
        assert_eq!(defaults.data_dir, None);
        assert_eq!(
            defaults.initial_cluster,
            [("default".to_owned(), "http://localhost:2380".to_owned())]
        );
        assert!(!defaults.skip_hash_check);
        let set = restore(&[
            "snapshot",
            "restore",
            "b.db",
            "--name=m1",
            "--data-dir=d",
            "--initial-cluster=m1=http://10.0.0.1:2380,m2=http://10.0.0.2:2380",
            "--initial-cluster-token=t",
            "--initial-advertise-peer-urls=http://10.0.0.1:2380",
            "--skip-hash-check",
        ])
        .unwrap();
        assert_eq!(set.name, "m1");
        assert_eq!(set.data_dir, Some("d".into()));
        assert_eq!(set.initial_cluster.len(), 2);
        assert_eq!(set.initial_cluster_token, "t");
        assert!(set.skip_hash_check);
        let mismatch = restore(&[
            "snapshot",
            "restore",
            "b.db",
            "--initial-advertise-peer-urls=http://10.0.0.9:2380",
        ])
        .unwrap_err();
        assert!(
            mismatch.contains("missing from --initial-advertise-peer-urls"),
            "{mismatch}"
        );
    }

    #[test]
    fn config_file_rules() {
        let mut raw = RawSettings::default();
        let yaml = "name: cf\ninitial-cluster: cf=http://localhost:2380\nheartbeat-interval: 100\nlog-outputs: [stderr]\nenable-v2: false\nclient-transport-security:\n  client-cert-auth: false\n";
        assert_eq!(file::apply_text(&mut raw, yaml), Ok(()));
        let config = validate::build(&raw, false);
        assert_eq!(
            config.map(|c| (c.name, c.log_outputs)),
            Ok(("cf".to_string(), vec!["stderr".to_string()]))
        );

        let mut raw = RawSettings::default();
        assert!(matches!(
            file::apply_text(&mut raw, "name: [unclosed\n"),
            Err(StartupError::ConfigFileSyntax { .. })
        ));
        let e = file::apply_text(&mut raw, "snapshot-count: abc\n");
        assert_eq!(
            e.map_err(|e| e.to_string()),
            Err("error unmarshaling JSON: while decoding JSON: json: cannot unmarshal string into Go struct field configYAML.snapshot-count of type uint64".to_string())
        );
        let mut raw = RawSettings::default();
        assert_eq!(
            file::apply_text(&mut raw, "peer-transport-security:\n  cert-file: /x.pem\n"),
            Ok(())
        );
        assert!(matches!(
            validate::build(&raw, false),
            Err(StartupError::NotSupportedYet { .. })
        ));
    }

    #[test]
    fn config_file_ignores_flags_and_env() {
        let path = std::env::temp_dir().join(format!("ringkv-cli-test-{}.yml", std::process::id()));
        let written = std::fs::write(
            &path,
            "name: cf\ninitial-cluster: other=http://127.0.0.1:2380\n",
        );
        assert!(written.is_ok());
        let path_text = path.display().to_string();
        // No env conflict in config-file mode; the file's name wins.
        let e = error(
            &["--config-file", &path_text, "--name", "flag"],
            &[("ETCD_NAME", "env")],
        );
        assert_eq!(
            e.to_string(),
            "couldn't find local name \"cf\" in the initial cluster configuration"
        );
        let e = error(&[], &[("ETCD_CONFIG_FILE", &path_text)]);
        assert_eq!(e, StartupError::NameNotInCluster { name: "cf".into() });
        let _ = std::fs::remove_file(&path);
        let e = error(&["--config-file", "/nonexistent/ringkv.yml"], &[]);
        assert_eq!(
            e.to_string(),
            "open /nonexistent/ringkv.yml: no such file or directory"
        );
    }
}
