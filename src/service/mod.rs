//! The etcd gRPC services, one folder or file per service as etcd's `api/v3rpc` has them.
//! Handlers take decoded requests and return responses or an `EtcdError` from the one
//! error table; they never see transport details. One [`Context`] per core holds what
//! every handler needs: the store (for local reads), the raft handle (for writes and
//! linearizable reads) and the member's identity.

pub mod cluster;
pub mod kv;
pub mod lease;
pub mod maintenance;
pub mod node;
pub mod watch;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ringkv_proto::etcdserverpb::ResponseHeader;
use ringkv_store::mvcc::Mvcc;

use crate::grpc::leader::LeaderLoss;
use crate::lease::Lessor;
use crate::store_jobs::StoreJobs;
use crate::watch::WatchHub;

pub use node::Node;

/// etcd's DefaultQuotaBytes: what `--quota-backend-bytes 0` means.
pub const DEFAULT_QUOTA_BYTES: u64 = 2 << 30;

/// etcd's `grpcOverheadBytes`: room for gRPC framing around the largest request.
pub const GRPC_OVERHEAD_BYTES: usize = 512 * 1024;

/// Limits from the command line that shape requests.
#[derive(Debug, Clone)]
pub struct Limits {
    /// `--max-txn-ops`.
    pub max_txn_ops: usize,
    /// `--max-request-bytes`: the largest encoded request that may enter the raft log.
    pub max_request_bytes: usize,
    /// The store size at which writes raise NOSPACE (`--quota-backend-bytes`); `None`
    /// when disabled.
    pub quota_bytes: Option<u64>,
}

impl Limits {
    /// `--quota-backend-bytes` as etcd reads it: 0 is the default, negative disables.
    pub fn quota_from_flag(flag: i64) -> Option<u64> {
        match u64::try_from(flag) {
            Ok(0) => Some(DEFAULT_QUOTA_BYTES),
            Ok(bytes) => Some(bytes),
            Err(_) => None,
        }
    }

    /// The largest gRPC message etcd accepts (its server's MaxRecvMsgSize), and the size
    /// above which a `fragment` watcher's responses are split.
    pub fn max_message_bytes(&self) -> usize {
        self.max_request_bytes.saturating_add(GRPC_OVERHEAD_BYTES)
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_txn_ops: 128,
            max_request_bytes: 1536 * 1024,
            quota_bytes: Some(DEFAULT_QUOTA_BYTES),
        }
    }
}

/// This member as clients see it.
#[derive(Debug, Clone, Default)]
pub struct Identity {
    pub cluster_id: u64,
    pub member_id: u64,
    pub name: String,
    pub peer_urls: Vec<String>,
    pub client_urls: Vec<String>,
}

/// Everything a handler on one core needs. Each core holds its own clone (the store and
/// the raft handle are shared underneath) behind an `Rc` for its calls.
#[derive(Clone)]
pub struct Context {
    pub mvcc: Mvcc,
    pub node: Node,
    pub identity: Identity,
    pub limits: Limits,
    /// Lease deadlines, shared by every core (keepalives renew them in place).
    pub lessor: Arc<Lessor>,
    /// `<data-dir>/member/snap`: where Snapshot writes the copy it streams.
    pub snap_dir: PathBuf,
    /// Hands this member's watch streams each committed batch of events.
    pub watch_hub: Arc<WatchHub>,
    /// How often a `progress_notify` watcher that got no events hears the revision.
    pub watch_progress_interval: Duration,
    /// Cancels `hasleader` streams on every core when the leader is lost.
    pub leader_loss: Arc<LeaderLoss>,
    /// Physical compaction and defragmentation, off the request path.
    pub store_jobs: StoreJobs,
}

impl Context {
    /// etcd's `header.fill`: cluster, member and term always; the store's current
    /// revision only when the handler left the revision at 0.
    pub fn fill(&self, header: &mut Option<ResponseHeader>) {
        let h = header.get_or_insert_with(ResponseHeader::default);
        h.cluster_id = self.identity.cluster_id;
        h.member_id = self.identity.member_id;
        h.raft_term = self.node.status().term;
        if h.revision == 0 {
            h.revision = self.mvcc.read().revision();
        }
    }

    /// This member's header stamped with `revision` (no store read).
    pub fn header_at(&self, revision: i64) -> Option<ResponseHeader> {
        Some(ResponseHeader {
            cluster_id: self.identity.cluster_id,
            member_id: self.identity.member_id,
            raft_term: self.node.status().term,
            revision,
        })
    }

    /// A header for a response that has none of its own yet.
    pub fn header(&self) -> Option<ResponseHeader> {
        let mut header = None;
        self.fill(&mut header);
        header
    }
}
