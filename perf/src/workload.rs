//! The workloads and their parameters, named and defaulted as etcd's `benchmark` tool names
//! its subcommands and flags, so a command line moves between the two tools unchanged.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    Put,
    Range,
    TxnPut,
    TxnMixed,
    Watch,
    WatchFanout,
    LeaseKeepalive,
}

impl Workload {
    pub const ALL: [Workload; 7] = [
        Workload::Put,
        Workload::Range,
        Workload::TxnPut,
        Workload::TxnMixed,
        Workload::Watch,
        Workload::WatchFanout,
        Workload::LeaseKeepalive,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Workload::Put => "put",
            Workload::Range => "range",
            Workload::TxnPut => "txn-put",
            Workload::TxnMixed => "txn-mixed",
            Workload::Watch => "watch",
            Workload::WatchFanout => "watch-fanout",
            Workload::LeaseKeepalive => "lease-keepalive",
        }
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown workload {0:?}")]
pub struct UnknownWorkload(pub String);

impl FromStr for Workload {
    type Err = UnknownWorkload;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Workload::ALL
            .into_iter()
            .find(|w| w.name() == s)
            .ok_or_else(|| UnknownWorkload(s.to_owned()))
    }
}

/// How much load, over how many connections: the flags every workload shares (accepted
/// before or after the workload name, as etcd's `benchmark` takes them).
#[derive(Args, Debug, Clone, PartialEq)]
pub struct Load {
    /// Total number of gRPC connections.
    #[arg(long, global = true, default_value_t = 1)]
    pub conns: usize,
    /// Total number of concurrent clients (each an outstanding request at a time).
    #[arg(long, global = true, default_value_t = 1)]
    pub clients: usize,
    /// Total number of requests (ignored when --duration is set).
    #[arg(long, global = true, default_value_t = 10_000)]
    pub total: u64,
    /// Run for this long instead of --total requests (e.g. `30s`).
    #[arg(long, global = true, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Maximum requests per second over all clients (0 is no limit).
    #[arg(long, global = true, default_value_t = 0)]
    pub rate: u64,
}

impl Load {
    pub fn new(conns: usize, clients: usize, total: u64) -> Load {
        Load {
            conns,
            clients,
            total,
            duration: None,
            rate: 0,
        }
    }
}

/// Keys and values written, as `benchmark put` and `txn-put` shape them.
#[derive(Args, Debug, Clone, PartialEq)]
pub struct KeyArgs {
    /// Key size in bytes.
    #[arg(long, default_value_t = 8)]
    pub key_size: usize,
    /// Value size in bytes.
    #[arg(long, default_value_t = 8)]
    pub val_size: usize,
    /// Number of distinct keys written.
    #[arg(long, default_value_t = 1)]
    pub key_space_size: u64,
    /// Write keys 0, 1, 2, … (mod --key-space-size) instead of random ones.
    #[arg(long)]
    pub sequential_keys: bool,
}

impl KeyArgs {
    /// The key of request `index`: its number as a little-endian varint in `key_size` bytes,
    /// like `benchmark put` (`binary.PutVarint` into a zeroed buffer).
    pub fn key(&self, index: u64, random: u64) -> Vec<u8> {
        self.numbered(if self.sequential_keys { index } else { random })
    }

    /// Key number `n` (modulo the key space), encoded as [`KeyArgs::key`] does.
    pub fn numbered(&self, n: u64) -> Vec<u8> {
        let n = n % self.key_space_size.max(1);
        let mut key = vec![0u8; self.key_size.max(1)];
        // Go's zig-zag varint of a non-negative int64.
        let mut v = n << 1;
        for byte in key.iter_mut() {
            if v < 0x80 {
                *byte = v as u8;
                break;
            }
            *byte = (v as u8) | 0x80;
            v >>= 7;
        }
        key
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Consistency {
    /// Linearizable: a quorum read through raft's ReadIndex.
    #[value(name = "l")]
    Linearizable,
    /// Serializable: the local member's store.
    #[value(name = "s")]
    Serializable,
}

impl Consistency {
    pub fn flag(self) -> &'static str {
        match self {
            Consistency::Linearizable => "l",
            Consistency::Serializable => "s",
        }
    }
}

#[derive(Args, Debug, Clone, PartialEq)]
pub struct RangeArgs {
    /// The key (or range start) read.
    pub key: String,
    /// Range end (exclusive); a single key when absent.
    pub end: Option<String>,
    #[arg(long, value_enum, default_value_t = Consistency::Linearizable)]
    pub consistency: Consistency,
    /// Maximum keys per response (0 is no limit).
    #[arg(long, default_value_t = 0)]
    pub limit: i64,
}

#[derive(Args, Debug, Clone, PartialEq)]
pub struct TxnPutArgs {
    #[command(flatten)]
    pub keys: KeyArgs,
    /// Number of puts per txn.
    #[arg(long, default_value_t = 1)]
    pub txn_ops: usize,
}

#[derive(Args, Debug, Clone, PartialEq)]
pub struct TxnMixedArgs {
    #[command(flatten)]
    pub keys: KeyArgs,
    /// Reads per write: a request is a txn-range with probability ratio/(1+ratio).
    #[arg(long, default_value_t = 1.0)]
    pub rw_ratio: f64,
    /// Maximum keys per read.
    #[arg(long, default_value_t = 1000)]
    pub limit: i64,
}

/// Watchers and the puts they hear. The put → delivery latency of each event is measured;
/// the value of each put carries its send time.
#[derive(Args, Debug, Clone, PartialEq)]
pub struct WatchArgs {
    /// Watch streams (spread over --conns connections).
    #[arg(long, default_value_t = 10)]
    pub streams: usize,
    /// Watchers per stream.
    #[arg(long, default_value_t = 10)]
    pub watchers_per_stream: usize,
    /// Puts per second.
    #[arg(long, default_value_t = 100)]
    pub put_rate: u64,
    /// Total puts.
    #[arg(long, default_value_t = 1000)]
    pub put_total: u64,
    #[arg(long, default_value_t = 32)]
    pub key_size: usize,
    #[arg(long, default_value_t = 32)]
    pub val_size: usize,
}

/// One workload with its own parameters.
#[derive(Subcommand, Debug, Clone, PartialEq)]
pub enum Job {
    /// Puts (`benchmark put`).
    Put(KeyArgs),
    /// Ranges over a key or range (`benchmark range`).
    Range(RangeArgs),
    /// Txns of --txn-ops puts (`benchmark txn-put`).
    TxnPut(TxnPutArgs),
    /// Txn-ranges and txn-puts mixed by --rw-ratio.
    TxnMixed(TxnMixedArgs),
    /// Every watcher watches its own key; puts go round the watched keys.
    Watch(WatchArgs),
    /// Every watcher watches one key; each put is delivered to all of them
    /// (`benchmark watch-latency`).
    WatchFanout(WatchArgs),
    /// Lease keep-alive round trips, one lease and stream per client (`benchmark lease-keepalive`).
    LeaseKeepalive,
}

impl Job {
    pub fn workload(&self) -> Workload {
        match self {
            Job::Put(_) => Workload::Put,
            Job::Range(_) => Workload::Range,
            Job::TxnPut(_) => Workload::TxnPut,
            Job::TxnMixed(_) => Workload::TxnMixed,
            Job::Watch(_) => Workload::Watch,
            Job::WatchFanout(_) => Workload::WatchFanout,
            Job::LeaseKeepalive => Workload::LeaseKeepalive,
        }
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (number, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, "s"), |at| s.split_at(at));
    let value: f64 = number
        .parse()
        .map_err(|_| format!("invalid duration {s:?}"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        _ => return Err(format!("invalid duration {s:?} (use ms, s or m)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("invalid duration {s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for w in Workload::ALL {
            assert_eq!(w.name().parse::<Workload>(), Ok(w));
        }
        assert!("bogus".parse::<Workload>().is_err());
    }

    #[test]
    fn keys_are_go_varints_in_key_size_bytes() {
        let keys = KeyArgs {
            key_size: 8,
            val_size: 8,
            key_space_size: 1000,
            sequential_keys: true,
        };
        assert_eq!(keys.key(0, 0), vec![0; 8]);
        assert_eq!(keys.key(1, 0), vec![2, 0, 0, 0, 0, 0, 0, 0]);
        // 300 → zig-zag 600 = 0b100_1011000 → [0xd8, 0x04].
        assert_eq!(keys.key(300, 0), vec![0xd8, 0x04, 0, 0, 0, 0, 0, 0]);
        assert_eq!(keys.key(1300, 0), keys.key(300, 0));
        assert_eq!(keys.numbered(1300), keys.key(300, 0));
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("5"), Ok(Duration::from_secs(5)));
        assert!(parse_duration("5h").is_err());
    }
}
