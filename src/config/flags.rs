//! The server flag table: every flag etcd 3.4/3.5 accepts, with its default, value kind, help
//! group, help text (our own words) and whether ringkv implements it yet.
//!
//! The table is the single source for `--help`, environment variables (`ETCD_<FLAG>`), config
//! file keys and the "not supported yet" check. When a feature lands, flip its `Support` marker.

/// How a flag's text value is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Free text.
    Str,
    /// `true`/`false`; on the command line `--flag` alone means true and a value needs `=`.
    Bool,
    /// Unsigned integer.
    Uint,
    /// Signed integer.
    Int,
    /// Go-style duration (`100ms`, `5s`, `2h`, `1h30m`).
    Duration,
    /// Comma-separated URLs (scheme http, https, unix or unixs; no path).
    Urls,
    /// Comma-separated list of strings.
    List,
    /// One of a fixed set of words (etcd validates these while parsing flags).
    Choice(&'static [&'static str]),
}

/// Section of `--help` the flag is listed under (etcd's grouping).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Member,
    Clustering,
    Security,
    Auth,
    Monitoring,
    Logging,
    V2Proxy,
    Experimental,
    Unsafe,
    Deprecated,
    Ringkv,
}

impl Group {
    pub const ORDER: [Group; 11] = [
        Group::Member,
        Group::Clustering,
        Group::Security,
        Group::Auth,
        Group::Monitoring,
        Group::Logging,
        Group::V2Proxy,
        Group::Experimental,
        Group::Unsafe,
        Group::Deprecated,
        Group::Ringkv,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Group::Member => "Member",
            Group::Clustering => "Clustering",
            Group::Security => "Security",
            Group::Auth => "Auth",
            Group::Monitoring => "Profiling and Monitoring",
            Group::Logging => "Logging",
            Group::V2Proxy => "v2 Proxy (to be deprecated in v4)",
            Group::Experimental => "Experimental feature",
            Group::Unsafe => "Unsafe feature",
            Group::Deprecated => "TO BE DEPRECATED",
            Group::Ringkv => "ringkv",
        }
    }
}

/// Whether ringkv implements a flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Implemented (some flags carry extra limits checked in `validate.rs`).
    Yes,
    /// Accepted but refused when set to anything but its default; names the missing feature.
    NotYet(&'static str),
    /// Only the listed values work; any other value is refused naming the missing feature.
    Only(&'static [&'static str], &'static str),
}

/// One server flag.
#[derive(Debug, Clone, Copy)]
pub struct FlagSpec {
    /// Name without dashes, e.g. `initial-cluster`.
    pub name: &'static str,
    /// Default as etcd spells it on the command line (empty = unset).
    pub default: &'static str,
    pub kind: Kind,
    pub group: Group,
    pub support: Support,
    pub help: &'static str,
}

impl FlagSpec {
    /// The environment variable etcd reads for this flag: `ETCD_` + upper snake case.
    pub fn env_var(&self) -> String {
        env_var_for(self.name)
    }

    /// Whether the flag takes a value on the command line (bools do not).
    pub fn takes_value(&self) -> bool {
        self.kind != Kind::Bool
    }
}

/// `initial-cluster` → `ETCD_INITIAL_CLUSTER`.
pub fn env_var_for(name: &str) -> String {
    format!("ETCD_{}", name.to_ascii_uppercase().replace('-', "_"))
}

const fn flag(
    name: &'static str,
    default: &'static str,
    kind: Kind,
    group: Group,
    support: Support,
    help: &'static str,
) -> FlagSpec {
    FlagSpec {
        name,
        default,
        kind,
        group,
        support,
        help,
    }
}

use Group::*;
use Kind::*;
use Support::{NotYet, Only, Yes};

const RAFT: Support = NotYet("raft tuning");
const CLUSTERING: Support = NotYet("clustering");
const DISCOVERY: Support = NotYet("discovery");
const TLS: Support = NotYet("TLS");
const HTTP: Support = NotYet("HTTP access control");
const AUTH: Support = NotYet("auth");
const METRICS: Support = NotYet("metrics");
const PROXY: Support = NotYet("v2 proxy");
const EXPERIMENTAL: Support = NotYet("experimental features");
const UNSAFE: Support = NotYet("unsafe features");
const TRACING: Support = NotYet("distributed tracing");

/// The name of ringkv's own flag for the number of cores.
pub const CORES: &str = "cores";

/// Every server flag, in `--help` order within each group.
pub static FLAGS: &[FlagSpec] = &[
    // Member
    flag(
        "name",
        "default",
        Str,
        Member,
        Yes,
        "Name of this member, unique in the cluster.",
    ),
    flag(
        "data-dir",
        "${name}.etcd",
        Str,
        Member,
        Yes,
        "Directory holding the member's data.",
    ),
    flag(
        "wal-dir",
        "",
        Str,
        Member,
        Yes,
        "Separate directory for the write-ahead log.",
    ),
    flag(
        "snapshot-count",
        "100000",
        Uint,
        Member,
        Yes,
        "Committed entries between two raft snapshots.",
    ),
    flag(
        "heartbeat-interval",
        "100",
        Uint,
        Member,
        Yes,
        "Heartbeat interval in milliseconds.",
    ),
    flag(
        "election-timeout",
        "1000",
        Uint,
        Member,
        Yes,
        "Election timeout in milliseconds; at least 5 heartbeats, at most 50000.",
    ),
    flag(
        "initial-election-tick-advance",
        "true",
        Bool,
        Member,
        RAFT,
        "Skip most of the first election wait after start-up.",
    ),
    flag(
        "listen-peer-urls",
        "http://localhost:2380",
        Urls,
        Member,
        Yes,
        "URLs to accept peer traffic on.",
    ),
    flag(
        "listen-client-urls",
        "http://localhost:2379",
        Urls,
        Member,
        Yes,
        "URLs to accept client traffic on.",
    ),
    flag(
        "listen-client-http-urls",
        "",
        Urls,
        Member,
        NotYet("separate HTTP listeners"),
        "URLs that serve only HTTP (gateway, health) to clients.",
    ),
    flag(
        "max-snapshots",
        "5",
        Uint,
        Member,
        Yes,
        "Snapshot files kept on disk (0 keeps all); ringkv writes none: the store is the snapshot.",
    ),
    flag(
        "max-wals",
        "5",
        Uint,
        Member,
        Yes,
        "WAL files kept on disk (0 keeps all).",
    ),
    flag(
        "quota-backend-bytes",
        "0",
        Int,
        Member,
        Yes,
        "Backend size that raises the NOSPACE alarm (0 means 2 GiB, negative disables it).",
    ),
    flag(
        "backend-batch-interval",
        "",
        Duration,
        Member,
        NotYet("backend tuning"),
        "Longest time before a backend write batch is committed.",
    ),
    flag(
        "backend-batch-limit",
        "0",
        Uint,
        Member,
        NotYet("backend tuning"),
        "Most operations in one backend write batch.",
    ),
    flag(
        "max-txn-ops",
        "128",
        Uint,
        Member,
        Yes,
        "Most operations allowed in one transaction.",
    ),
    flag(
        "max-request-bytes",
        "1572864",
        Uint,
        Member,
        Yes,
        "Largest client request accepted, in bytes.",
    ),
    flag(
        "max-concurrent-streams",
        "4294967295",
        Uint,
        Member,
        Yes,
        "Most concurrent gRPC streams per client connection.",
    ),
    flag(
        "grpc-keepalive-min-time",
        "5s",
        Duration,
        Member,
        Yes,
        "Shortest ping interval a client may use.",
    ),
    flag(
        "grpc-keepalive-interval",
        "2h",
        Duration,
        Member,
        Yes,
        "How often the server pings idle connections (0 disables).",
    ),
    flag(
        "grpc-keepalive-timeout",
        "20s",
        Duration,
        Member,
        Yes,
        "How long to wait for a ping answer before closing (0 disables).",
    ),
    flag(
        "socket-reuse-port",
        "false",
        Bool,
        Member,
        NotYet("socket options"),
        "Set SO_REUSEPORT on listeners.",
    ),
    flag(
        "socket-reuse-address",
        "false",
        Bool,
        Member,
        NotYet("socket options"),
        "Set SO_REUSEADDR on listeners.",
    ),
    // Clustering
    flag(
        "initial-advertise-peer-urls",
        "http://localhost:2380",
        Urls,
        Clustering,
        Yes,
        "Peer URLs of this member announced to the rest of the cluster.",
    ),
    flag(
        "initial-cluster",
        "default=http://localhost:2380",
        Str,
        Clustering,
        Yes,
        "Members to bootstrap with, as name=peer-url pairs separated by commas.",
    ),
    flag(
        "initial-cluster-state",
        "new",
        Choice(&["new", "existing"]),
        Clustering,
        Only(&["new"], "clustering"),
        "'new' to bootstrap a cluster, 'existing' to join one.",
    ),
    flag(
        "initial-cluster-token",
        "etcd-cluster",
        Str,
        Clustering,
        Yes,
        "Token that keeps separately bootstrapped clusters apart.",
    ),
    flag(
        "advertise-client-urls",
        "http://localhost:2379",
        Urls,
        Clustering,
        Yes,
        "Client URLs of this member announced to clients.",
    ),
    flag(
        "discovery",
        "",
        Str,
        Clustering,
        DISCOVERY,
        "Discovery service URL to bootstrap the cluster with.",
    ),
    flag(
        "discovery-fallback",
        "proxy",
        Choice(&["exit", "proxy"]),
        Clustering,
        DISCOVERY,
        "What to do when discovery fails: 'exit' or 'proxy' (v2 only).",
    ),
    flag(
        "discovery-proxy",
        "",
        Str,
        Clustering,
        DISCOVERY,
        "HTTP proxy for talking to the discovery service.",
    ),
    flag(
        "discovery-srv",
        "",
        Str,
        Clustering,
        DISCOVERY,
        "DNS domain whose SRV records list the cluster.",
    ),
    flag(
        "discovery-srv-name",
        "",
        Str,
        Clustering,
        DISCOVERY,
        "Suffix added to the SRV names queried.",
    ),
    flag(
        "strict-reconfig-check",
        "true",
        Bool,
        Clustering,
        CLUSTERING,
        "Refuse membership changes that would lose quorum.",
    ),
    flag(
        "pre-vote",
        "false",
        Bool,
        Clustering,
        RAFT,
        "Run raft's pre-vote phase before elections.",
    ),
    flag(
        "auto-compaction-retention",
        "0",
        Str,
        Clustering,
        Yes,
        "History to keep when compacting automatically (0 disables).",
    ),
    flag(
        "auto-compaction-mode",
        "periodic",
        Str,
        Clustering,
        Yes,
        "How to read the retention: 'periodic' (duration, hours by default) or 'revision'.",
    ),
    flag(
        "enable-v2",
        "false",
        Bool,
        Clustering,
        Only(&["false"], "v2 API"),
        "Serve the v2 API.",
    ),
    flag(
        "v2-deprecation",
        "not-yet",
        Str,
        Clustering,
        NotYet("v2 API"),
        "Stage of the v2 store deprecation.",
    ),
    flag(
        "enable-grpc-gateway",
        "true",
        Bool,
        Clustering,
        Yes,
        "Serve the JSON gateway to the v3 API.",
    ),
    flag(
        "max-learners",
        "1",
        Uint,
        Clustering,
        CLUSTERING,
        "Most learner members allowed.",
    ),
    // Security
    flag(
        "cert-file",
        "",
        Str,
        Security,
        Yes,
        "TLS certificate for the client listener.",
    ),
    flag(
        "key-file",
        "",
        Str,
        Security,
        Yes,
        "TLS key for the client listener.",
    ),
    flag(
        "client-cert-file",
        "",
        Str,
        Security,
        TLS,
        "TLS certificate this member shows when acting as a client.",
    ),
    flag(
        "client-key-file",
        "",
        Str,
        Security,
        TLS,
        "TLS key this member uses when acting as a client.",
    ),
    flag(
        "client-cert-auth",
        "false",
        Bool,
        Security,
        Yes,
        "Require client certificates.",
    ),
    flag(
        "client-crl-file",
        "",
        Str,
        Security,
        TLS,
        "Revoked client certificates.",
    ),
    flag(
        "client-cert-allowed-hostname",
        "",
        Str,
        Security,
        TLS,
        "Hostname client certificates must carry.",
    ),
    flag(
        "trusted-ca-file",
        "",
        Str,
        Security,
        Yes,
        "CA bundle trusted for client certificates.",
    ),
    flag(
        "auto-tls",
        "false",
        Bool,
        Security,
        Yes,
        "Serve clients TLS with a generated certificate.",
    ),
    flag(
        "peer-cert-file",
        "",
        Str,
        Security,
        TLS,
        "TLS certificate for the peer listener.",
    ),
    flag(
        "peer-key-file",
        "",
        Str,
        Security,
        TLS,
        "TLS key for the peer listener.",
    ),
    flag(
        "peer-client-cert-file",
        "",
        Str,
        Security,
        TLS,
        "TLS certificate shown when dialing peers.",
    ),
    flag(
        "peer-client-key-file",
        "",
        Str,
        Security,
        TLS,
        "TLS key used when dialing peers.",
    ),
    flag(
        "peer-client-cert-auth",
        "false",
        Bool,
        Security,
        TLS,
        "Require certificates from peers.",
    ),
    flag(
        "peer-trusted-ca-file",
        "",
        Str,
        Security,
        TLS,
        "CA bundle trusted for peer certificates.",
    ),
    flag(
        "peer-cert-allowed-cn",
        "",
        Str,
        Security,
        TLS,
        "Common Name peer certificates must carry.",
    ),
    flag(
        "peer-cert-allowed-hostname",
        "",
        Str,
        Security,
        TLS,
        "Hostname peer certificates must carry.",
    ),
    flag(
        "peer-auto-tls",
        "false",
        Bool,
        Security,
        TLS,
        "Serve peers TLS with a generated certificate when no peer cert is given.",
    ),
    flag(
        "peer-crl-file",
        "",
        Str,
        Security,
        TLS,
        "Revoked peer certificates.",
    ),
    flag(
        "self-signed-cert-validity",
        "1",
        Uint,
        Security,
        TLS,
        "Years generated certificates stay valid.",
    ),
    flag(
        "cipher-suites",
        "",
        List,
        Security,
        TLS,
        "Allowed TLS cipher suites, comma separated (empty: library default).",
    ),
    flag(
        "tls-min-version",
        "TLS1.2",
        Str,
        Security,
        TLS,
        "Lowest TLS version accepted.",
    ),
    flag(
        "tls-max-version",
        "",
        Str,
        Security,
        TLS,
        "Highest TLS version accepted (empty: library default).",
    ),
    flag(
        "cors",
        "*",
        List,
        Security,
        HTTP,
        "Origins allowed for CORS, comma separated (empty or * allows all).",
    ),
    flag(
        "host-whitelist",
        "*",
        List,
        Security,
        HTTP,
        "Host headers accepted on plain HTTP, comma separated (empty or * allows all).",
    ),
    // Auth
    flag(
        "auth-token",
        "simple",
        Str,
        Auth,
        AUTH,
        "Auth token kind and options: 'simple' or 'jwt,...'.",
    ),
    flag(
        "bcrypt-cost",
        "10",
        Uint,
        Auth,
        AUTH,
        "bcrypt cost for stored passwords (4 to 31).",
    ),
    flag(
        "auth-token-ttl",
        "300",
        Uint,
        Auth,
        AUTH,
        "Lifetime of simple auth tokens, in seconds.",
    ),
    // Profiling and Monitoring
    flag(
        "enable-pprof",
        "false",
        Bool,
        Monitoring,
        NotYet("profiling"),
        "Serve profiling data under /debug/pprof/ on the client URLs.",
    ),
    flag(
        "metrics",
        "basic",
        Str,
        Monitoring,
        METRICS,
        "Metrics detail: 'basic' or 'extensive' (adds histograms).",
    ),
    flag(
        "listen-metrics-urls",
        "",
        Urls,
        Monitoring,
        METRICS,
        "Extra URLs serving only /metrics and /health.",
    ),
    // Logging
    flag(
        "logger",
        "zap",
        Str,
        Logging,
        Only(&["zap"], "capnslog logging"),
        "Logger: 'zap' (structured) or 'capnslog'.",
    ),
    flag(
        "log-outputs",
        "default",
        List,
        Logging,
        Yes,
        "Where logs go: 'default', 'stdout', 'stderr' or file paths, comma separated.",
    ),
    flag(
        "log-level",
        "info",
        Str,
        Logging,
        Yes,
        "Lowest level logged: debug, info, warn, error, panic or fatal.",
    ),
    flag(
        "enable-log-rotation",
        "false",
        Bool,
        Logging,
        NotYet("log rotation"),
        "Rotate log files (needs a file in --log-outputs).",
    ),
    flag(
        "log-rotation-config-json",
        "{\"maxsize\": 100, \"maxage\": 0, \"maxbackups\": 0, \"localtime\": false, \"compress\": false}",
        Str,
        Logging,
        NotYet("log rotation"),
        "Log rotation settings as JSON.",
    ),
    // v2 Proxy
    flag(
        "proxy",
        "off",
        Choice(&["off", "readonly", "on"]),
        V2Proxy,
        PROXY,
        "v2 proxy mode: 'off', 'readonly' or 'on'.",
    ),
    flag(
        "proxy-failure-wait",
        "5000",
        Uint,
        V2Proxy,
        PROXY,
        "Milliseconds a failed endpoint stays out of rotation.",
    ),
    flag(
        "proxy-refresh-interval",
        "30000",
        Uint,
        V2Proxy,
        PROXY,
        "Milliseconds between endpoint refreshes.",
    ),
    flag(
        "proxy-dial-timeout",
        "1000",
        Uint,
        V2Proxy,
        PROXY,
        "Milliseconds before a dial gives up.",
    ),
    flag(
        "proxy-write-timeout",
        "5000",
        Uint,
        V2Proxy,
        PROXY,
        "Milliseconds before a write gives up.",
    ),
    flag(
        "proxy-read-timeout",
        "0",
        Uint,
        V2Proxy,
        PROXY,
        "Milliseconds before a read gives up (0: never).",
    ),
    // Experimental
    flag(
        "experimental-initial-corrupt-check",
        "false",
        Bool,
        Experimental,
        EXPERIMENTAL,
        "Check for data corruption before serving traffic.",
    ),
    flag(
        "experimental-corrupt-check-time",
        "0s",
        Duration,
        Experimental,
        EXPERIMENTAL,
        "Interval between cluster corruption checks.",
    ),
    flag(
        "experimental-compact-hash-check-enabled",
        "false",
        Bool,
        Experimental,
        EXPERIMENTAL,
        "Compare compaction hashes between members.",
    ),
    flag(
        "experimental-compact-hash-check-time",
        "1m",
        Duration,
        Experimental,
        EXPERIMENTAL,
        "Interval between compaction hash checks.",
    ),
    flag(
        "experimental-enable-v2v3",
        "",
        Str,
        Experimental,
        NotYet("v2 API"),
        "Serve v2 requests from the v3 store under this prefix.",
    ),
    flag(
        "experimental-backend-bbolt-freelist-type",
        "array",
        Str,
        Experimental,
        EXPERIMENTAL,
        "Backend freelist kind ('array' or 'map').",
    ),
    flag(
        "experimental-enable-lease-checkpoint",
        "false",
        Bool,
        Experimental,
        EXPERIMENTAL,
        "Persist remaining lease TTLs so leader changes do not renew them.",
    ),
    flag(
        "experimental-enable-lease-checkpoint-persist",
        "false",
        Bool,
        Experimental,
        EXPERIMENTAL,
        "Keep lease checkpoints across restarts.",
    ),
    flag(
        "experimental-compaction-batch-limit",
        "1000",
        Int,
        Experimental,
        Yes,
        "Most revisions removed per compaction batch.",
    ),
    flag(
        "experimental-compaction-sleep-interval",
        "10ms",
        Duration,
        Experimental,
        Yes,
        "Pause between compaction batches.",
    ),
    flag(
        "experimental-peer-skip-client-san-verification",
        "false",
        Bool,
        Experimental,
        TLS,
        "Do not check SANs of peer client certificates.",
    ),
    flag(
        "experimental-watch-progress-notify-interval",
        "10m",
        Duration,
        Experimental,
        Yes,
        "Interval of watch progress notifications.",
    ),
    flag(
        "experimental-warning-apply-duration",
        "100ms",
        Duration,
        Experimental,
        EXPERIMENTAL,
        "Log a warning when applying a request takes longer.",
    ),
    flag(
        "experimental-warning-unary-request-duration",
        "300ms",
        Duration,
        Experimental,
        EXPERIMENTAL,
        "Log a warning when a unary request takes longer.",
    ),
    flag(
        "experimental-txn-mode-write-with-shared-buffer",
        "true",
        Bool,
        Experimental,
        EXPERIMENTAL,
        "Let write transactions share the read buffer.",
    ),
    flag(
        "experimental-bootstrap-defrag-threshold-megabytes",
        "0",
        Uint,
        Experimental,
        EXPERIMENTAL,
        "Defragment at start-up when this many MB can be freed.",
    ),
    flag(
        "experimental-max-learners",
        "1",
        Uint,
        Experimental,
        CLUSTERING,
        "Most learner members allowed.",
    ),
    flag(
        "experimental-snapshot-catchup-entries",
        "5000",
        Uint,
        Experimental,
        EXPERIMENTAL,
        "Entries kept after a snapshot for slow followers.",
    ),
    flag(
        "experimental-downgrade-check-time",
        "5s",
        Duration,
        Experimental,
        EXPERIMENTAL,
        "Interval between downgrade status checks.",
    ),
    flag(
        "experimental-memory-mlock",
        "false",
        Bool,
        Experimental,
        EXPERIMENTAL,
        "Lock the backend in memory.",
    ),
    flag(
        "experimental-wait-cluster-ready-timeout",
        "5s",
        Duration,
        Experimental,
        EXPERIMENTAL,
        "How long to wait for the cluster to be ready before serving.",
    ),
    flag(
        "experimental-stop-grpc-service-on-defrag",
        "false",
        Bool,
        Experimental,
        EXPERIMENTAL,
        "Report NOT_SERVING to gRPC health checks while defragmenting.",
    ),
    flag(
        "experimental-enable-distributed-tracing",
        "false",
        Bool,
        Experimental,
        TRACING,
        "Export OpenTelemetry traces.",
    ),
    flag(
        "experimental-distributed-tracing-address",
        "localhost:4317",
        Str,
        Experimental,
        TRACING,
        "OpenTelemetry collector address.",
    ),
    flag(
        "experimental-distributed-tracing-service-name",
        "etcd",
        Str,
        Experimental,
        TRACING,
        "Service name in exported traces.",
    ),
    flag(
        "experimental-distributed-tracing-instance-id",
        "",
        Str,
        Experimental,
        TRACING,
        "Instance id in exported traces.",
    ),
    flag(
        "experimental-distributed-tracing-sampling-rate",
        "0",
        Uint,
        Experimental,
        TRACING,
        "Sampled traces per million.",
    ),
    // Unsafe
    flag(
        "force-new-cluster",
        "false",
        Bool,
        Unsafe,
        UNSAFE,
        "Rewrite membership to a one-member cluster on start.",
    ),
    flag(
        "unsafe-no-fsync",
        "false",
        Bool,
        Unsafe,
        UNSAFE,
        "Never fsync (data may be lost on a crash).",
    ),
    // To be deprecated
    flag(
        "debug",
        "false",
        Bool,
        Deprecated,
        NotYet("--debug (use --log-level=debug)"),
        "Log at debug level; prefer --log-level=debug.",
    ),
    flag(
        "log-package-levels",
        "",
        Str,
        Deprecated,
        NotYet("capnslog logging"),
        "Per-package capnslog levels, e.g. 'etcdmain=CRITICAL'.",
    ),
    // ringkv
    flag(
        CORES,
        "",
        Uint,
        Ringkv,
        Yes,
        "Cores to run shards on (default: one fewer than the online CPUs, at least 1; env RINGKV_CORES).",
    ),
    flag(
        "config-file",
        "",
        Str,
        Ringkv,
        Yes,
        "YAML server configuration; when given, all other flags and ETCD_* variables are ignored.",
    ),
];

/// etcd v0.4 flags that etcd 3.4 still accepts as switches, warns about and ignores.
pub static LEGACY_IGNORED: &[&str] = &[
    "cluster-active-size",
    "cluster-remove-delay",
    "cluster-sync-interval",
    "config",
    "force",
    "max-result-buffer",
    "max-retry-attempts",
    "peer-heartbeat-interval",
    "peer-election-timeout",
    "retry-interval",
    "snapshot",
    "v",
    "vv",
];

/// Looks a flag up by name (without dashes).
pub fn find(name: &str) -> Option<&'static FlagSpec> {
    FLAGS.iter().find(|f| f.name == name)
}

/// Index of a flag in [`FLAGS`].
pub fn index_of(name: &str) -> Option<usize> {
    FLAGS.iter().position(|f| f.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        for (i, f) in FLAGS.iter().enumerate() {
            assert_eq!(index_of(f.name), Some(i), "duplicate flag {}", f.name);
        }
    }

    #[test]
    fn env_names_follow_etcd() {
        assert_eq!(
            env_var_for("initial-cluster-token"),
            "ETCD_INITIAL_CLUSTER_TOKEN"
        );
    }
}
