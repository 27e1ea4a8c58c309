//! The services' view of the raft core: propose a request and get its applied answer,
//! wait for a linearizable read point, read raft's status. The only place services touch
//! raft, so the rest of `service/` never sees raft types.

use prost::Message;
use ringkv_proto::ringkvpb::RaftRequest;

use crate::apply::{Applied, ApplyOutcome};
use crate::error::EtcdError;
use crate::raft::{ProposeError, RaftHandle};

/// Raft's state as Status and headers report it.
#[derive(Debug, Clone, Copy, Default)]
pub struct NodeStatus {
    pub term: u64,
    pub leader: u64,
    pub commit: u64,
    pub applied: u64,
}

/// A core's handle on the raft core. Cheap to clone.
#[derive(Clone)]
pub struct Node {
    raft: RaftHandle<ApplyOutcome>,
}

impl Node {
    pub fn new(raft: RaftHandle<ApplyOutcome>) -> Node {
        Node { raft }
    }

    /// Proposes `request` and waits until it is committed and applied. Requests larger
    /// than `max_request_bytes` never enter the log (etcd's ErrRequestTooLarge).
    pub async fn propose(
        &self,
        request: RaftRequest,
        max_request_bytes: usize,
    ) -> Result<Applied, EtcdError> {
        let data = request.encode_to_vec();
        if data.len() > max_request_bytes {
            return Err(EtcdError::RequestTooLarge);
        }
        self.raft.propose(data).await.map_err(raft_error)?
    }

    /// Returns once everything committed before the call is applied locally (ReadIndex).
    pub async fn linearize(&self) -> Result<(), EtcdError> {
        self.raft.read_index().await.map_err(raft_error)?;
        Ok(())
    }

    /// The raft node has stopped (shutdown or a fatal error).
    pub fn stopped(&self) -> bool {
        self.raft.status().stopped
    }

    pub fn status(&self) -> NodeStatus {
        let s = self.raft.status();
        NodeStatus {
            term: s.term,
            leader: s.leader,
            commit: s.commit,
            applied: s.applied,
        }
    }
}

/// The raft core's errors already carry etcd's messages; this picks the table entry.
fn raft_error(e: ProposeError) -> EtcdError {
    match e {
        ProposeError::Timeout => EtcdError::Timeout,
        ProposeError::NoLeader => EtcdError::NoLeader,
        ProposeError::Stopped => EtcdError::Stopped,
        ProposeError::Dropped => EtcdError::TimeoutDueToLeaderFail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raft_errors_keep_their_etcd_messages() {
        for e in [
            ProposeError::Timeout,
            ProposeError::NoLeader,
            ProposeError::Stopped,
            ProposeError::Dropped,
        ] {
            assert_eq!(raft_error(e.clone()).message(), e.to_string());
        }
    }
}
