//! The workloads, named as etcd's `benchmark` tool names its subcommands.

use std::fmt;
use std::str::FromStr;

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
}
