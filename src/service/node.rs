//! The services' view of the raft core: propose a request and get its applied answer,
//! wait for a linearizable read point, read raft's status. The only place services touch
//! raft, so the rest of `service/` never sees raft types.

use prost::Message;
use ringkv_proto::ringkvpb::RaftRequest;

use crate::apply::Applied;
use crate::error::EtcdError;

/// Raft's state as Status and headers report it.
#[derive(Debug, Clone, Copy, Default)]
pub struct NodeStatus {
    pub term: u64,
    pub leader: u64,
    pub commit: u64,
    pub applied: u64,
}

#[derive(Clone)]
pub struct Node {
    // TEMP: wired to the raft handle at merge.
}

impl Node {
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
        todo!("raft propose")
    }

    /// Returns once everything committed before the call is applied locally (ReadIndex).
    pub async fn linearize(&self) -> Result<(), EtcdError> {
        todo!("raft read index")
    }

    pub fn status(&self) -> NodeStatus {
        todo!("raft status")
    }
}
