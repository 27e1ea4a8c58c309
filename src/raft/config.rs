//! What the raft node needs: its identity, the bootstrap membership, where the WAL lives and
//! etcd's timing and retention knobs.

use std::path::PathBuf;
use std::time::Duration;

/// Node settings, defaulting to etcd's.
#[derive(Debug, Clone)]
pub struct RaftConfig {
    /// This member's ID (etcd's member ID, see [`crate::cluster`]).
    pub id: u64,
    /// The voters of a new cluster (`--initial-cluster`); used only when the WAL is empty.
    pub initial_voters: Vec<u64>,
    /// `<data-dir>/member/wal`.
    pub wal_dir: PathBuf,
    /// `--heartbeat-interval`: one raft tick.
    pub heartbeat_interval: Duration,
    /// Election timeout in ticks (`--election-timeout` / `--heartbeat-interval`).
    pub election_ticks: usize,
    /// `--snapshot-count`: applied entries between raft snapshots (and WAL purges).
    pub snapshot_count: u64,
    /// `--max-wals`: WAL segments kept by purge.
    pub max_wals: usize,
    /// WAL segment size (64 MiB, as etcd; tests use less).
    pub wal_segment_size: usize,
    /// How long a proposal or read index may wait before `request timed out`.
    pub request_timeout: Duration,
}

/// A config raft-rs or the WAL would refuse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("member ID must not be 0")]
    ZeroId,
    #[error("member {0:x} is not among the initial voters")]
    NotAVoter(u64),
    #[error("election timeout must be more than one heartbeat (got {0} ticks)")]
    ElectionTicks(usize),
    #[error("heartbeat interval must not be zero")]
    Heartbeat,
    #[error("member {0:?} is not in --initial-cluster")]
    UnknownMember(String),
}

impl RaftConfig {
    /// etcd's defaults: 100 ms ticks, election after 10 ticks, 100 000 entries per snapshot,
    /// 5 WAL files, 64 MiB segments, and etcd's request timeout (5 s + 2 election timeouts).
    pub fn new(id: u64, initial_voters: Vec<u64>, wal_dir: impl Into<PathBuf>) -> RaftConfig {
        let heartbeat_interval = Duration::from_millis(100);
        let election_ticks = 10;
        RaftConfig {
            id,
            initial_voters,
            wal_dir: wal_dir.into(),
            heartbeat_interval,
            election_ticks,
            snapshot_count: 100_000,
            max_wals: 5,
            wal_segment_size: 64 << 20,
            request_timeout: Duration::from_secs(5)
                + heartbeat_interval * election_ticks as u32 * 2,
        }
    }

    /// The config of member `name` of `--initial-cluster` (name, peer URL pairs), with every
    /// member ID derived from the peer URLs and `--initial-cluster-token` as etcd does.
    pub fn from_initial_cluster(
        name: &str,
        initial_cluster: &[(String, String)],
        token: &str,
        wal_dir: impl Into<PathBuf>,
    ) -> Result<RaftConfig, ConfigError> {
        let (members, _cluster_id) = crate::cluster::initial_members(initial_cluster, token);
        let id = members
            .iter()
            .find(|m| m.name == name)
            .map(|m| m.id)
            .ok_or_else(|| ConfigError::UnknownMember(name.to_owned()))?;
        let voters = members.iter().map(|m| m.id).collect();
        Ok(RaftConfig::new(id, voters, wal_dir))
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.id == 0 {
            return Err(ConfigError::ZeroId);
        }
        if !self.initial_voters.contains(&self.id) {
            return Err(ConfigError::NotAVoter(self.id));
        }
        if self.election_ticks <= 1 {
            return Err(ConfigError::ElectionTicks(self.election_ticks));
        }
        if self.heartbeat_interval.is_zero() {
            return Err(ConfigError::Heartbeat);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etcd_defaults_validate() {
        let c = RaftConfig::new(7, vec![7], "/tmp/x");
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.request_timeout, Duration::from_secs(7));
        assert_eq!(
            RaftConfig::new(0, vec![0], "/x").validate(),
            Err(ConfigError::ZeroId)
        );
        assert_eq!(
            RaftConfig::new(7, vec![8], "/x").validate(),
            Err(ConfigError::NotAVoter(7))
        );
    }

    #[test]
    fn member_id_from_initial_cluster_matches_etcd() {
        let cluster = [("default".to_owned(), "http://127.0.0.1:24380".to_owned())];
        let c =
            RaftConfig::from_initial_cluster("default", &cluster, "etcd-cluster", "/x").unwrap();
        // What etcd 3.4.23 logged as local-member-id for these flags.
        assert_eq!(format!("{:x}", c.id), "b5179d13d0285315");
        assert_eq!(c.initial_voters, vec![c.id]);
        assert_eq!(
            RaftConfig::from_initial_cluster("other", &cluster, "etcd-cluster", "/x").unwrap_err(),
            ConfigError::UnknownMember("other".into())
        );
    }
}
