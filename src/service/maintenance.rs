//! The Maintenance service: Status, Hash, HashKV, Alarm, Defragment, MoveLeader and
//! Snapshot (which streams). Answers follow etcd's `v3rpc/maintenance.go`, including its
//! quirks: Defragment and MoveLeader answer with no header at all.

use std::future::Future;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use ringkv_proto::etcdserverpb::{
    AlarmMember, AlarmRequest, AlarmResponse, AlarmType, DefragmentResponse, HashKvRequest,
    HashKvResponse, HashResponse, MoveLeaderRequest, MoveLeaderResponse, ResponseHeader,
    SnapshotResponse, StatusResponse,
};
use ringkv_proto::ringkvpb::RaftRequest;
use ringkv_proto::ringkvpb::raft_request::Request;
use ringkv_store::mvcc::{MvccError, Side};
use sha2::{Digest, Sha256};

use crate::apply::{self, Applied};
use crate::error::EtcdError;
use crate::service::Context;
use crate::store_jobs::JobError;

/// The one mapping of store errors to client errors, shared with the KV service.
fn store_error(e: MvccError) -> EtcdError {
    crate::service::kv::client_error(e.into())
}

/// Raised alarms, from the latest committed store state.
pub fn raised_alarms(ctx: &Context) -> Result<Vec<AlarmMember>, EtcdError> {
    let entries = ctx
        .mvcc
        .read()
        .side_scan(Side::Alarm)
        .map_err(store_error)?;
    Ok(apply::alarms(entries, 0))
}

/// An alarm as Go's generated `String()` prints it, which etcd puts in Status.errors.
fn alarm_text(a: &AlarmMember) -> String {
    let kind = AlarmType::try_from(a.alarm)
        .map_or_else(|_| a.alarm.to_string(), |t| t.as_str_name().to_owned());
    format!("memberID:{} alarm:{} ", a.member_id, kind)
}

pub fn status(ctx: &Context) -> Result<StatusResponse, EtcdError> {
    let node = ctx.node.status();
    let mut errors = Vec::new();
    if node.leader == 0 {
        errors.push(EtcdError::NoLeader.message().to_owned());
    }
    errors.extend(raised_alarms(ctx)?.iter().map(alarm_text));
    Ok(StatusResponse {
        header: ctx.header(),
        version: crate::version::ETCD_SERVER_VERSION.to_owned(),
        db_size: i64::try_from(ctx.mvcc.db_size()).unwrap_or(i64::MAX),
        leader: node.leader,
        raft_index: node.commit,
        raft_term: node.term,
        raft_applied_index: node.applied,
        errors,
        db_size_in_use: i64::try_from(ctx.mvcc.db_size_in_use()).unwrap_or(i64::MAX),
        is_learner: false,
        ..StatusResponse::default()
    })
}

pub fn hash(ctx: &Context) -> Result<HashResponse, EtcdError> {
    let read = ctx.mvcc.read();
    let hash = read.hash().map_err(store_error)?;
    let mut header = Some(ResponseHeader {
        revision: read.revision(),
        ..ResponseHeader::default()
    });
    ctx.fill(&mut header);
    Ok(HashResponse { header, hash })
}

pub fn hash_kv(ctx: &Context, r: &HashKvRequest) -> Result<HashKvResponse, EtcdError> {
    let read = ctx.mvcc.read();
    let h = read.hash_kv(r.revision).map_err(store_error)?;
    let mut header = Some(ResponseHeader {
        revision: read.revision(),
        ..ResponseHeader::default()
    });
    ctx.fill(&mut header);
    Ok(HashKvResponse {
        header,
        hash: h.hash,
        // etcd starts its compact revision at -1 (never compacted); our store at 0.
        compact_revision: if h.compact_revision == 0 {
            -1
        } else {
            h.compact_revision
        },
        hash_revision: h.hash_revision,
    })
}

/// Every alarm action goes through raft (etcd 3.5), so all members agree on the list.
pub async fn alarm(ctx: &Context, r: AlarmRequest) -> Result<AlarmResponse, EtcdError> {
    let request = RaftRequest {
        request: Some(Request::Alarm(r)),
    };
    match ctx
        .node
        .propose(request, ctx.limits.max_request_bytes)
        .await?
    {
        Applied::Alarm(mut resp) => {
            ctx.fill(&mut resp.header);
            Ok(resp)
        }
        _ => Err(EtcdError::Stopped),
    }
}

/// Shrinks the store file online: the jobs thread moves pages in short steps, so reads and
/// writes go on meanwhile (etcd stops every request for the whole copy). Answers when done.
pub async fn defragment(ctx: &Context) -> Result<DefragmentResponse, EtcdError> {
    ctx.store_jobs.defragment().await.map_err(store_job_error)?;
    Ok(DefragmentResponse { header: None })
}

/// A store job that failed: the store is unusable (as a failed bbolt defrag is fatal in
/// etcd), or the member is stopping.
pub fn store_job_error(e: JobError) -> EtcdError {
    match e {
        JobError::Store(e) => store_error(e),
        JobError::Stopped => EtcdError::Stopped,
    }
}

/// With one member the only valid target is the leader itself (a no-op), as in etcd.
pub fn move_leader(ctx: &Context, r: &MoveLeaderRequest) -> Result<MoveLeaderResponse, EtcdError> {
    let node = ctx.node.status();
    if node.leader != ctx.identity.member_id {
        return Err(EtcdError::NotLeader);
    }
    if r.target_id != ctx.identity.member_id {
        return Err(EtcdError::BadLeaderTransferee);
    }
    Ok(MoveLeaderResponse { header: None })
}

/// etcd's snapshotSendBufferSize: the blob of each streamed message.
const SNAPSHOT_CHUNK: usize = 32 * 1024;
/// Read from the copy in larger pieces, off the core's thread.
const SNAPSHOT_READ: usize = 32 * SNAPSHOT_CHUNK;
/// Copies being streamed are named so; leftovers of a crash are removed at start-up.
pub const SNAPSHOT_TMP_PREFIX: &str = "tmp-snapshot-";

/// Why a snapshot stream stopped early.
#[derive(Debug)]
pub enum SnapshotError {
    /// Copying or reading the store failed (etcd answers such errors with their text).
    Io(String),
    /// The client went away; nothing to answer.
    Closed,
}

/// etcd's Snapshot: a consistent copy of the store streamed in 32 KiB blobs, each with the
/// bytes still to come, then one last message whose blob is the SHA-256 of everything sent
/// (`etcdctl snapshot restore` checks it). The copy is written beside the store on the
/// blocking pool, so the core keeps serving and writers never wait; the first message
/// carries the header (etcd 3.5).
pub async fn snapshot(ctx: &Context, sink: &mut impl SnapshotSink) -> Result<(), SnapshotError> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let path = ctx.snap_dir.join(format!(
        "{SNAPSHOT_TMP_PREFIX}{}.db",
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let header = ctx.header();
    let streamed = stream_copy(ctx, &path, header, sink).await;
    let _ = std::fs::remove_file(&path);
    streamed
}

/// Where the messages of a snapshot go (the call's response stream).
pub trait SnapshotSink {
    /// `Err` once the client is gone.
    fn send(&mut self, message: SnapshotResponse) -> impl Future<Output = Result<(), ()>>;
}

async fn stream_copy(
    ctx: &Context,
    path: &Path,
    mut header: Option<ResponseHeader>,
    sink: &mut impl SnapshotSink,
) -> Result<(), SnapshotError> {
    let io = |e: std::io::Error| SnapshotError::Io(format!("snapshot: {e}"));
    let mvcc = ctx.mvcc.clone();
    let copy_path = path.to_path_buf();
    let mut file = blocking(move || {
        let _ = std::fs::remove_file(&copy_path);
        mvcc.write_copy(&copy_path)
            .map_err(|e| SnapshotError::Io(format!("snapshot: {e}")))?;
        std::fs::File::open(&copy_path).map_err(io)
    })
    .await?;
    let total = file.metadata().map_err(io)?.len();
    let mut sent = 0u64;
    let mut digest = Sha256::new();
    while sent < total {
        let (back, piece) = blocking(move || {
            let mut piece = Vec::with_capacity(SNAPSHOT_READ);
            (&mut file)
                .take(SNAPSHOT_READ as u64)
                .read_to_end(&mut piece)
                .map(|_| (file, piece))
                .map_err(io)
        })
        .await?;
        file = back;
        if piece.is_empty() {
            return Err(SnapshotError::Io(
                "snapshot: the copy ended early".to_owned(),
            ));
        }
        let piece = bytes::Bytes::from(piece);
        for start in (0..piece.len()).step_by(SNAPSHOT_CHUNK) {
            let blob = piece.slice(start..piece.len().min(start + SNAPSHOT_CHUNK));
            sent += blob.len() as u64;
            digest.update(&blob);
            let message = SnapshotResponse {
                header: header.take(),
                remaining_bytes: total.saturating_sub(sent),
                blob,
                ..SnapshotResponse::default()
            };
            sink.send(message)
                .await
                .map_err(|()| SnapshotError::Closed)?;
        }
    }
    let last = SnapshotResponse {
        header: header.take(),
        remaining_bytes: 0,
        blob: bytes::Bytes::copy_from_slice(&digest.finalize()),
        ..SnapshotResponse::default()
    };
    sink.send(last).await.map_err(|()| SnapshotError::Closed)
}

/// Runs file work on glommio's blocking pool so the core's other calls go on.
async fn blocking<T: Send + 'static>(
    job: impl FnOnce() -> Result<T, SnapshotError> + Send + 'static,
) -> Result<T, SnapshotError> {
    glommio::executor().spawn_blocking(job).await
}

/// Removes copies a crash left behind in `snap_dir`.
pub fn remove_stale_snapshots(snap_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(snap_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with(SNAPSHOT_TMP_PREFIX) {
            let path: PathBuf = entry.path();
            if let Err(e) = std::fs::remove_file(&path) {
                tracing::warn!(path = %path.display(), error = %e, "cannot remove a stale snapshot copy");
            }
        }
    }
}
