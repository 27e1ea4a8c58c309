//! Server configuration: the flag table, where values come from (command line, `ETCD_*`
//! environment, YAML file), and the typed [`ServerConfig`] the server reads.
//!
//! Everything here is pure: the process environment, arguments and exit are the caller's.

pub mod env;
pub mod error;
pub mod file;
pub mod flags;
pub mod validate;
pub mod values;

use std::path::PathBuf;
use std::time::Duration;

use ringkv_net::server::ServerConfig as ConnectionConfig;
use url::Url;

use crate::service::Limits;

pub use error::StartupError;
use flags::FLAGS;

/// Where a flag's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Default,
    CommandLine,
    /// The environment variable's name.
    Env(String),
    ConfigFile,
}

/// Flag values as text, one slot per entry of [`FLAGS`], before typing.
#[derive(Debug, Clone)]
pub struct RawSettings {
    slots: Vec<(String, Source)>,
}

impl Default for RawSettings {
    fn default() -> Self {
        Self {
            slots: FLAGS
                .iter()
                .map(|f| (f.default.to_string(), Source::Default))
                .collect(),
        }
    }
}

impl RawSettings {
    pub fn set(&mut self, index: usize, value: String, source: Source) {
        if let Some(slot) = self.slots.get_mut(index) {
            *slot = (value, source);
        }
    }

    pub fn is_set_on_command_line(&self, index: usize) -> bool {
        self.slots
            .get(index)
            .is_some_and(|(_, s)| *s == Source::CommandLine)
    }

    /// Text and source of the named flag (the default for a name not in the table).
    pub fn get(&self, name: &str) -> (&str, &Source) {
        match flags::index_of(name).and_then(|i| self.slots.get(i)) {
            Some((value, source)) => (value.as_str(), source),
            None => ("", &Source::Default),
        }
    }

    /// Whether the flag was given explicitly (command line, environment or file).
    pub fn is_explicit(&self, name: &str) -> bool {
        *self.get(name).1 != Source::Default
    }

    fn typed<T>(
        &self,
        name: &str,
        convert: impl Fn(&str) -> Result<T, String>,
    ) -> Result<T, StartupError> {
        let (text, source) = self.get(name);
        convert(text).map_err(|reason| match source {
            // etcd reads the initial cluster late, while bootstrapping, whatever its source.
            _ if name == "initial-cluster" => StartupError::InitialCluster { reason },
            Source::Env(var) => StartupError::EnvInvalid {
                var: var.clone(),
                value: text.to_string(),
                reason,
            },
            Source::ConfigFile => StartupError::ConfigFileInvalid {
                key: name.to_string(),
                value: text.to_string(),
                reason,
            },
            Source::CommandLine | Source::Default => StartupError::FlagInvalid {
                flag: name.to_string(),
                value: text.to_string(),
                reason,
            },
        })
    }
}

/// `--log-level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
    Panic,
    Fatal,
}

impl LogLevel {
    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "debug" => LogLevel::Debug,
            "info" => LogLevel::Info,
            "warn" => LogLevel::Warn,
            "error" => LogLevel::Error,
            "panic" => LogLevel::Panic,
            "fatal" => LogLevel::Fatal,
            _ => return None,
        })
    }
}

/// `--initial-cluster-state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterState {
    New,
    Existing,
}

fn text(s: &str) -> Result<String, String> {
    Ok(s.to_string())
}
fn optional_path(s: &str) -> Result<Option<PathBuf>, String> {
    Ok((!s.is_empty()).then(|| PathBuf::from(s)))
}
fn millis(s: &str) -> Result<Duration, String> {
    values::parse_uint(s).map(Duration::from_millis)
}
fn urls_or_none(s: &str) -> Result<Vec<Url>, String> {
    if s.is_empty() {
        Ok(Vec::new())
    } else {
        values::parse_urls(s)
    }
}
fn list(s: &str) -> Result<Vec<String>, String> {
    Ok(values::parse_list(s))
}
fn cluster_state(s: &str) -> Result<ClusterState, String> {
    match s {
        "new" => Ok(ClusterState::New),
        "existing" => Ok(ClusterState::Existing),
        _ => Err("invalid value".to_string()),
    }
}
fn log_level(s: &str) -> Result<LogLevel, String> {
    LogLevel::parse(s).ok_or_else(|| format!("unknown level {s:?}"))
}
fn cores(s: &str) -> Result<usize, String> {
    if s.is_empty() {
        return Ok(default_cores(
            std::thread::available_parallelism().map_or(1, |n| n.get()),
        ));
    }
    match values::parse_uint(s)? {
        0 => Err("must be at least 1".to_string()),
        n => usize::try_from(n).map_err(|_| values::PARSE_ERROR.to_string()),
    }
}

/// Executors when `--cores` is not given: one fewer than the CPUs the process may run on, at
/// least one. The CPU left over runs what no pinned executor should wait behind: the WAL's
/// and the checkpoint's I/O threads, the kernel's network and disk completion work, and on
/// a small machine the clients. Measured on 2 vCPUs (client on the same machine), one
/// executor against two: put 16×256 +16% req/s at −18% server CPU per put, ranges +5–17% at
/// −33–43%, put 1×1 and watch unchanged; every hop to the raft core and every wake-up of a
/// sleeping executor (glommio's membarrier) is gone.
pub fn default_cores(cpus: usize) -> usize {
    cpus.saturating_sub(1).max(1)
}

/// Declares `ServerConfig` and its construction from [`RawSettings`]: field, type, flag, reader.
macro_rules! server_config {
    ($( $(#[$doc:meta])* $field:ident : $ty:ty = $flag:literal via $conv:expr ),* $(,)?) => {
        /// The typed server configuration, one field per etcd flag (plus ringkv's `cores`).
        #[derive(Debug, Clone, PartialEq)]
        pub struct ServerConfig {
            $( $(#[$doc])* pub $field: $ty, )*
        }

        impl ServerConfig {
            /// Types every flag value; errors name the value's source as etcd does.
            pub fn from_raw(raw: &RawSettings) -> Result<Self, StartupError> {
                Ok(Self { $( $field: raw.typed($flag, $conv)?, )* })
            }

            /// The flag names backing the fields, in field order.
            #[cfg_attr(not(test), allow(dead_code))]
            pub const FLAG_NAMES: &'static [&'static str] = &[$($flag),*];
        }
    };
}

server_config! {
    name: String = "name" via text,
    /// `--data-dir`; defaults to `<name>.etcd` (filled in by [`ServerConfig::from_raw`]).
    data_dir: PathBuf = "data-dir" via |s: &str| Ok(PathBuf::from(s)),
    wal_dir: Option<PathBuf> = "wal-dir" via optional_path,
    snapshot_count: u64 = "snapshot-count" via values::parse_uint,
    heartbeat_interval: Duration = "heartbeat-interval" via millis,
    election_timeout: Duration = "election-timeout" via millis,
    initial_election_tick_advance: bool = "initial-election-tick-advance" via values::parse_bool,
    listen_peer_urls: Vec<Url> = "listen-peer-urls" via values::parse_urls,
    listen_client_urls: Vec<Url> = "listen-client-urls" via values::parse_urls,
    listen_client_http_urls: Vec<Url> = "listen-client-http-urls" via urls_or_none,
    max_snapshots: u64 = "max-snapshots" via values::parse_uint,
    max_wals: u64 = "max-wals" via values::parse_uint,
    quota_backend_bytes: i64 = "quota-backend-bytes" via values::parse_int,
    backend_batch_interval: Duration = "backend-batch-interval" via values::parse_duration,
    backend_batch_limit: u64 = "backend-batch-limit" via values::parse_uint,
    max_txn_ops: u64 = "max-txn-ops" via values::parse_uint,
    max_request_bytes: u64 = "max-request-bytes" via values::parse_uint,
    max_concurrent_streams: u64 = "max-concurrent-streams" via values::parse_uint,
    grpc_keepalive_min_time: Duration = "grpc-keepalive-min-time" via values::parse_duration,
    grpc_keepalive_interval: Duration = "grpc-keepalive-interval" via values::parse_duration,
    grpc_keepalive_timeout: Duration = "grpc-keepalive-timeout" via values::parse_duration,
    socket_reuse_port: bool = "socket-reuse-port" via values::parse_bool,
    socket_reuse_address: bool = "socket-reuse-address" via values::parse_bool,
    initial_advertise_peer_urls: Vec<Url> = "initial-advertise-peer-urls" via values::parse_urls,
    /// `name=url` pairs in the order given; a member with several peer URLs has several entries.
    initial_cluster: Vec<(String, Url)> = "initial-cluster" via |s: &str| if s.is_empty() { Ok(Vec::new()) } else { values::parse_initial_cluster(s) },
    initial_cluster_state: ClusterState = "initial-cluster-state" via cluster_state,
    initial_cluster_token: String = "initial-cluster-token" via text,
    advertise_client_urls: Vec<Url> = "advertise-client-urls" via urls_or_none,
    discovery: String = "discovery" via text,
    discovery_fallback: String = "discovery-fallback" via text,
    discovery_proxy: String = "discovery-proxy" via text,
    discovery_srv: String = "discovery-srv" via text,
    discovery_srv_name: String = "discovery-srv-name" via text,
    strict_reconfig_check: bool = "strict-reconfig-check" via values::parse_bool,
    pre_vote: bool = "pre-vote" via values::parse_bool,
    auto_compaction_retention: String = "auto-compaction-retention" via text,
    auto_compaction_mode: String = "auto-compaction-mode" via text,
    enable_v2: bool = "enable-v2" via values::parse_bool,
    v2_deprecation: String = "v2-deprecation" via text,
    enable_grpc_gateway: bool = "enable-grpc-gateway" via values::parse_bool,
    max_learners: u64 = "max-learners" via values::parse_uint,
    cert_file: Option<PathBuf> = "cert-file" via optional_path,
    key_file: Option<PathBuf> = "key-file" via optional_path,
    client_cert_file: Option<PathBuf> = "client-cert-file" via optional_path,
    client_key_file: Option<PathBuf> = "client-key-file" via optional_path,
    client_cert_auth: bool = "client-cert-auth" via values::parse_bool,
    client_crl_file: Option<PathBuf> = "client-crl-file" via optional_path,
    client_cert_allowed_hostname: String = "client-cert-allowed-hostname" via text,
    trusted_ca_file: Option<PathBuf> = "trusted-ca-file" via optional_path,
    auto_tls: bool = "auto-tls" via values::parse_bool,
    peer_cert_file: Option<PathBuf> = "peer-cert-file" via optional_path,
    peer_key_file: Option<PathBuf> = "peer-key-file" via optional_path,
    peer_client_cert_file: Option<PathBuf> = "peer-client-cert-file" via optional_path,
    peer_client_key_file: Option<PathBuf> = "peer-client-key-file" via optional_path,
    peer_client_cert_auth: bool = "peer-client-cert-auth" via values::parse_bool,
    peer_trusted_ca_file: Option<PathBuf> = "peer-trusted-ca-file" via optional_path,
    peer_cert_allowed_cn: String = "peer-cert-allowed-cn" via text,
    peer_cert_allowed_hostname: String = "peer-cert-allowed-hostname" via text,
    peer_auto_tls: bool = "peer-auto-tls" via values::parse_bool,
    peer_crl_file: Option<PathBuf> = "peer-crl-file" via optional_path,
    self_signed_cert_validity: u64 = "self-signed-cert-validity" via values::parse_uint,
    cipher_suites: Vec<String> = "cipher-suites" via list,
    tls_min_version: String = "tls-min-version" via text,
    tls_max_version: String = "tls-max-version" via text,
    cors: Vec<String> = "cors" via list,
    host_whitelist: Vec<String> = "host-whitelist" via list,
    auth_token: String = "auth-token" via text,
    bcrypt_cost: u64 = "bcrypt-cost" via values::parse_uint,
    auth_token_ttl: u64 = "auth-token-ttl" via values::parse_uint,
    enable_pprof: bool = "enable-pprof" via values::parse_bool,
    metrics: String = "metrics" via text,
    listen_metrics_urls: Vec<Url> = "listen-metrics-urls" via urls_or_none,
    logger: String = "logger" via text,
    log_outputs: Vec<String> = "log-outputs" via list,
    log_level: LogLevel = "log-level" via log_level,
    enable_log_rotation: bool = "enable-log-rotation" via values::parse_bool,
    log_rotation_config_json: String = "log-rotation-config-json" via text,
    proxy: String = "proxy" via text,
    proxy_failure_wait: Duration = "proxy-failure-wait" via millis,
    proxy_refresh_interval: Duration = "proxy-refresh-interval" via millis,
    proxy_dial_timeout: Duration = "proxy-dial-timeout" via millis,
    proxy_write_timeout: Duration = "proxy-write-timeout" via millis,
    proxy_read_timeout: Duration = "proxy-read-timeout" via millis,
    experimental_initial_corrupt_check: bool = "experimental-initial-corrupt-check" via values::parse_bool,
    experimental_corrupt_check_time: Duration = "experimental-corrupt-check-time" via values::parse_duration,
    experimental_compact_hash_check_enabled: bool = "experimental-compact-hash-check-enabled" via values::parse_bool,
    experimental_compact_hash_check_time: Duration = "experimental-compact-hash-check-time" via values::parse_duration,
    experimental_enable_v2v3: String = "experimental-enable-v2v3" via text,
    experimental_backend_bbolt_freelist_type: String = "experimental-backend-bbolt-freelist-type" via text,
    experimental_enable_lease_checkpoint: bool = "experimental-enable-lease-checkpoint" via values::parse_bool,
    experimental_enable_lease_checkpoint_persist: bool = "experimental-enable-lease-checkpoint-persist" via values::parse_bool,
    experimental_compaction_batch_limit: i64 = "experimental-compaction-batch-limit" via values::parse_int,
    experimental_compaction_sleep_interval: Duration = "experimental-compaction-sleep-interval" via values::parse_duration,
    experimental_peer_skip_client_san_verification: bool = "experimental-peer-skip-client-san-verification" via values::parse_bool,
    experimental_watch_progress_notify_interval: Duration = "experimental-watch-progress-notify-interval" via values::parse_duration,
    experimental_warning_apply_duration: Duration = "experimental-warning-apply-duration" via values::parse_duration,
    experimental_warning_unary_request_duration: Duration = "experimental-warning-unary-request-duration" via values::parse_duration,
    experimental_txn_mode_write_with_shared_buffer: bool = "experimental-txn-mode-write-with-shared-buffer" via values::parse_bool,
    experimental_bootstrap_defrag_threshold_megabytes: u64 = "experimental-bootstrap-defrag-threshold-megabytes" via values::parse_uint,
    experimental_max_learners: u64 = "experimental-max-learners" via values::parse_uint,
    experimental_snapshot_catchup_entries: u64 = "experimental-snapshot-catchup-entries" via values::parse_uint,
    experimental_downgrade_check_time: Duration = "experimental-downgrade-check-time" via values::parse_duration,
    experimental_memory_mlock: bool = "experimental-memory-mlock" via values::parse_bool,
    experimental_wait_cluster_ready_timeout: Duration = "experimental-wait-cluster-ready-timeout" via values::parse_duration,
    experimental_stop_grpc_service_on_defrag: bool = "experimental-stop-grpc-service-on-defrag" via values::parse_bool,
    experimental_enable_distributed_tracing: bool = "experimental-enable-distributed-tracing" via values::parse_bool,
    experimental_distributed_tracing_address: String = "experimental-distributed-tracing-address" via text,
    experimental_distributed_tracing_service_name: String = "experimental-distributed-tracing-service-name" via text,
    experimental_distributed_tracing_instance_id: String = "experimental-distributed-tracing-instance-id" via text,
    experimental_distributed_tracing_sampling_rate: u64 = "experimental-distributed-tracing-sampling-rate" via values::parse_uint,
    force_new_cluster: bool = "force-new-cluster" via values::parse_bool,
    unsafe_no_fsync: bool = "unsafe-no-fsync" via values::parse_bool,
    debug: bool = "debug" via values::parse_bool,
    log_package_levels: String = "log-package-levels" via text,
    /// ringkv: shards/cores to run on.
    cores: usize = "cores" via cores,
    config_file: Option<PathBuf> = "config-file" via optional_path,
}

impl ServerConfig {
    /// `--auto-compaction-mode` and `--auto-compaction-retention`; `None` when disabled.
    pub fn auto_compaction(
        &self,
    ) -> Result<Option<crate::auto_compact::AutoCompaction>, StartupError> {
        crate::auto_compact::AutoCompaction::parse(
            &self.auto_compaction_mode,
            &self.auto_compaction_retention,
        )
        .map_err(|reason| StartupError::CompactionRetention { reason })
    }

    /// What `https` client URLs serve with: `--cert-file` and `--key-file`, and the CA
    /// bundle clients must be signed by (`--trusted-ca-file`, which etcd also enforces
    /// without `--client-cert-auth`). `None` when neither certificate nor key is set.
    pub fn client_tls(&self) -> Option<ringkv_net::tls::TlsFiles> {
        if self.cert_file.is_none() && self.key_file.is_none() {
            return None;
        }
        Some(ringkv_net::tls::TlsFiles {
            cert: self.cert_file.clone().unwrap_or_default(),
            key: self.key_file.clone().unwrap_or_default(),
            client_ca: self.trusted_ca_file.clone(),
        })
    }

    /// The limits the services check requests against.
    pub fn limits(&self) -> Limits {
        Limits {
            max_txn_ops: usize::try_from(self.max_txn_ops).unwrap_or(usize::MAX),
            max_request_bytes: usize::try_from(self.max_request_bytes).unwrap_or(usize::MAX),
            quota_bytes: Limits::quota_from_flag(self.quota_backend_bytes),
        }
    }

    /// etcd's gRPC server options (`embed/etcd.go`): keepalive parameters only when both the
    /// interval and the timeout are set, the ping policy only when a min time is set (grpc-go's
    /// defaults otherwise), and a receive limit of `--max-request-bytes` + 512 KiB.
    pub fn grpc_connection(&self) -> ConnectionConfig {
        let defaults = ConnectionConfig::default();
        let keepalive =
            !self.grpc_keepalive_interval.is_zero() && !self.grpc_keepalive_timeout.is_zero();
        ConnectionConfig {
            max_concurrent_streams: u32::try_from(self.max_concurrent_streams).unwrap_or(u32::MAX),
            max_recv_message_size: self.limits().max_message_bytes(),
            keepalive_min_time: if self.grpc_keepalive_min_time.is_zero() {
                GRPC_GO_KEEPALIVE_MIN_TIME
            } else {
                self.grpc_keepalive_min_time
            },
            keepalive_interval: if keepalive {
                Some(self.grpc_keepalive_interval)
            } else {
                defaults.keepalive_interval
            },
            keepalive_timeout: if keepalive {
                self.grpc_keepalive_timeout
            } else {
                defaults.keepalive_timeout
            },
            ..defaults
        }
    }
}

/// grpc-go's enforcement MinTime when the server sets no policy (etcd with
/// `--grpc-keepalive-min-time 0`).
const GRPC_GO_KEEPALIVE_MIN_TIME: Duration = Duration::from_secs(5 * 60);

/// The effective data dir: etcd's `${name}.etcd` unless given.
pub(crate) fn resolve_data_dir(raw: &RawSettings, name: &str) -> PathBuf {
    let (text, _) = raw.get("data-dir");
    if text.is_empty() || text == "${name}.etcd" {
        PathBuf::from(format!("{name}.etcd"))
    } else {
        PathBuf::from(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flag_has_a_field() {
        for f in FLAGS {
            assert!(
                ServerConfig::FLAG_NAMES.contains(&f.name),
                "flag {} has no ServerConfig field",
                f.name
            );
        }
        assert_eq!(ServerConfig::FLAG_NAMES.len(), FLAGS.len());
    }

    #[test]
    fn the_default_leaves_one_cpu_to_the_rest() {
        assert_eq!(default_cores(1), 1);
        assert_eq!(default_cores(2), 1);
        assert_eq!(default_cores(16), 15);
    }

    #[test]
    fn defaults_type_cleanly() {
        let config = ServerConfig::from_raw(&RawSettings::default());
        let config = match config {
            Ok(c) => c,
            Err(e) => panic!("defaults must parse: {e}"),
        };
        assert_eq!(config.name, "default");
        assert_eq!(config.heartbeat_interval, Duration::from_millis(100));
        assert_eq!(config.grpc_keepalive_interval, Duration::from_secs(7200));
        assert_eq!(config.max_concurrent_streams, u64::from(u32::MAX));
        assert_eq!(config.initial_cluster.len(), 1);
        assert_eq!(config.log_level, LogLevel::Info);
        assert!(config.cores >= 1);
    }
}
