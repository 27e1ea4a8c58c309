//! The errors of the raft core: what a proposer or reader sees ([`ProposeError`], whose
//! messages are etcd's, for the one client-visible error table to map), and what stops the
//! node ([`RaftError`]).

use ringkv_wal::WalError;

use super::config::ConfigError;

/// Why a proposal or a read index did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposeError {
    /// Not answered within the request timeout (a leader exists).
    #[error("etcdserver: request timed out")]
    Timeout,
    /// No leader is known, so nothing can be proposed or read.
    #[error("etcdserver: no leader")]
    NoLeader,
    /// The node stopped (shutdown or a fatal error) before answering; the outcome of a
    /// proposal that was already appended is unknown.
    #[error("etcdserver: server stopped")]
    Stopped,
    /// The entry was lost (overwritten by another leader's, refused by raft, or applied
    /// without output).
    #[error("etcdserver: request timed out, possibly due to previous leader failure")]
    Dropped,
}

/// What stops the node (returned by `RaftNode::open` and `RaftNode::run`).
#[derive(Debug, thiserror::Error)]
pub enum RaftError {
    #[error("raft config: {0}")]
    Config(#[from] ConfigError),
    #[error("cannot open the WAL directory {dir}: {source}")]
    WalDir {
        dir: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("WAL: {0}")]
    Wal(#[from] WalError),
    #[error("raft: {0}")]
    Raft(#[from] raft::Error),
    /// The state machine's applied index does not fit the WAL: it is behind the WAL's
    /// snapshot (entries it needs were purged) or ahead of the WAL's last entry (the WAL
    /// lost entries the store applied).
    #[error(
        "state machine applied index {applied} is outside the WAL's range [{first}, {last}]; \
         the store and the WAL do not belong together"
    )]
    AppliedOutOfRange { applied: u64, first: u64, last: u64 },
    #[error("committed conf change at index {index} does not decode: {reason}")]
    ConfChange { index: u64, reason: String },
    #[error("the WAL sync thread went away")]
    SyncThread,
    #[error("the store checkpoint thread could not start or went away: {0}")]
    SnapshotThread(String),
}
