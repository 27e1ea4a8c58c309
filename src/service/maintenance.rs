//! The Maintenance service: Status, Hash, HashKV, Alarm, Defragment, MoveLeader (and
//! Snapshot, which streams). Answers follow etcd's `v3rpc/maintenance.go`, including its
//! quirks: Defragment and MoveLeader answer with no header at all.

use ringkv_proto::etcdserverpb::{
    AlarmMember, AlarmRequest, AlarmResponse, AlarmType, DefragmentResponse, HashKvRequest,
    HashKvResponse, HashResponse, MoveLeaderRequest, MoveLeaderResponse, ResponseHeader,
    StatusResponse,
};
use ringkv_proto::ringkvpb::RaftRequest;
use ringkv_proto::ringkvpb::raft_request::Request;
use ringkv_store::mvcc::{MvccError, Side};

use crate::apply::{self, Applied};
use crate::error::EtcdError;
use crate::service::Context;

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

/// Our store reuses freed pages and compacts in place without blocking anyone, so a
/// defragment request has nothing that must stop the world.
pub fn defragment(_ctx: &Context) -> Result<DefragmentResponse, EtcdError> {
    Ok(DefragmentResponse { header: None })
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
