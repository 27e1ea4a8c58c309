//! The KV service: Range, Put, DeleteRange, Txn, Compact. Request checks run on the
//! client's core before anything reaches raft, exactly as etcd's `v3rpc/key.go` checks;
//! writes go through raft and come back applied; reads are served on this core from a
//! store snapshot, after a ReadIndex round unless the client asked for `serializable`.

pub mod apply;
pub mod check;

use ringkv_proto::etcdserverpb::{
    AlarmRequest, AlarmType, CompactionRequest, CompactionResponse, DeleteRangeRequest,
    DeleteRangeResponse, PutRequest, PutResponse, RangeRequest, RangeResponse, TxnRequest,
    TxnResponse, alarm_request,
};
use ringkv_proto::ringkvpb::{RaftRequest, raft_request::Request};

use crate::apply::Applied;
use crate::error::EtcdError;
use crate::service::Context;

pub(crate) fn client_error(e: apply::ApplyError) -> EtcdError {
    match e {
        apply::ApplyError::Client(e) => e,
        // A read failing in the store is not the client's fault; etcd would have
        // panicked. Report it as the server being unable to serve.
        apply::ApplyError::Store(e) => {
            tracing::error!(error = %e, "store read failed");
            EtcdError::Corrupt
        }
    }
}

pub async fn range(ctx: &Context, r: RangeRequest) -> Result<RangeResponse, EtcdError> {
    check::check_range(&r)?;
    if !r.serializable {
        ctx.node.linearize().await?;
    }
    let mut resp = apply::range(&ctx.mvcc.read(), &r).map_err(client_error)?;
    ctx.fill(&mut resp.header);
    Ok(resp)
}

async fn propose(ctx: &Context, request: Request) -> Result<Applied, EtcdError> {
    let request = RaftRequest {
        request: Some(request),
    };
    ctx.node
        .propose(request, ctx.limits.max_request_bytes)
        .await
}

pub async fn put(ctx: &Context, r: PutRequest) -> Result<PutResponse, EtcdError> {
    check::check_put(&r)?;
    check_quota(ctx, put_cost(&r)).await?;
    match propose(ctx, Request::Put(r)).await? {
        Applied::Put(mut resp) => {
            ctx.fill(&mut resp.header);
            Ok(resp)
        }
        other => Err(mismatch(&other)),
    }
}

pub async fn delete_range(
    ctx: &Context,
    r: DeleteRangeRequest,
) -> Result<DeleteRangeResponse, EtcdError> {
    check::check_delete(&r)?;
    match propose(ctx, Request::DeleteRange(r)).await? {
        Applied::DeleteRange(mut resp) => {
            ctx.fill(&mut resp.header);
            Ok(resp)
        }
        other => Err(mismatch(&other)),
    }
}

/// A read-only Txn never enters the log: it is a (linearizable unless every range is
/// serializable) read, as in etcd.
pub async fn txn(ctx: &Context, r: TxnRequest) -> Result<TxnResponse, EtcdError> {
    check::check_txn(&r, ctx.limits.max_txn_ops)?;
    if apply::txn_is_read_only(&r) {
        if !all_serializable(&r) {
            ctx.node.linearize().await?;
        }
        let read = ctx.mvcc.read();
        let plan = apply::txn(&read, &r).map_err(client_error)?;
        let mut resp = plan.execute_read(&read, &r).map_err(client_error)?;
        ctx.fill(&mut resp.header);
        return Ok(resp);
    }
    check_quota(ctx, txn_put_cost(&r)).await?;
    match propose(ctx, Request::Txn(r)).await? {
        Applied::Txn(mut resp) => {
            ctx.fill(&mut resp.header);
            Ok(resp)
        }
        other => Err(mismatch(&other)),
    }
}

/// etcd's kvOverhead: what the quota charges a put beyond its key and value.
const KV_OVERHEAD: u64 = 256;

fn put_cost(p: &PutRequest) -> u64 {
    KV_OVERHEAD + p.key.len() as u64 + p.value.len() as u64
}

/// etcd's costTxn: the costlier branch's puts (nested Txns included).
pub(crate) fn txn_put_cost(t: &TxnRequest) -> u64 {
    use ringkv_proto::etcdserverpb::request_op::Request as Op;
    let branch = |ops: &[ringkv_proto::etcdserverpb::RequestOp]| -> u64 {
        ops.iter()
            .map(|op| match &op.request {
                Some(Op::RequestPut(p)) => put_cost(p),
                Some(Op::RequestTxn(t)) => txn_put_cost(t),
                _ => 0,
            })
            .sum()
    };
    branch(&t.success).max(branch(&t.failure))
}

/// etcd's quotaAlarmer: a write that would take the store past the quota raises the
/// NOSPACE alarm (through raft, so every member refuses writes) and is refused.
async fn check_quota(ctx: &Context, cost: u64) -> Result<(), EtcdError> {
    let Some(quota) = ctx.limits.quota_bytes else {
        return Ok(());
    };
    if ctx.mvcc.db_size().saturating_add(cost) < quota {
        return Ok(());
    }
    let raise = AlarmRequest {
        action: alarm_request::AlarmAction::Activate as i32,
        member_id: ctx.identity.member_id,
        alarm: AlarmType::Nospace as i32,
    };
    if let Err(e) = crate::service::maintenance::alarm(ctx, raise).await {
        tracing::warn!(error = %e, "cannot raise the NOSPACE alarm");
    }
    Err(EtcdError::NoSpace)
}

/// etcd's isTxnSerializable: every Range on both branches (recursively) is serializable.
fn all_serializable(r: &TxnRequest) -> bool {
    use ringkv_proto::etcdserverpb::request_op::Request as Op;
    r.success
        .iter()
        .chain(&r.failure)
        .all(|op| match &op.request {
            Some(Op::RequestRange(q)) => q.serializable,
            Some(Op::RequestTxn(t)) => all_serializable(t),
            _ => true,
        })
}

pub async fn compact(ctx: &Context, r: CompactionRequest) -> Result<CompactionResponse, EtcdError> {
    let physical = r.physical;
    match propose(ctx, Request::Compaction(r)).await? {
        Applied::Compaction(mut resp) => {
            if physical {
                ctx.store_jobs
                    .compacted_physically()
                    .await
                    .map_err(crate::service::maintenance::store_job_error)?;
            }
            ctx.fill(&mut resp.header);
            Ok(resp)
        }
        other => Err(mismatch(&other)),
    }
}

/// The raft core answered a proposal with another request's kind: a bug, never client
/// input; refuse rather than send a wrong answer.
fn mismatch(applied: &Applied) -> EtcdError {
    tracing::error!(?applied, "raft returned the answer of another request kind");
    EtcdError::Stopped
}
