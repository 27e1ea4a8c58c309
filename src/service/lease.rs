//! The Lease service, as etcd's `v3rpc/lease.go` and `etcdserver/v3_server.go` answer:
//! grants and revokes go through raft (the store holds leases and their keys); keepalives,
//! TimeToLive and Leases read the shared lessor on the client's core with no hop.

use std::time::Duration;

use ringkv_proto::etcdserverpb::{
    AlarmRequest, AlarmType, LeaseGrantRequest, LeaseGrantResponse, LeaseKeepAliveResponse,
    LeaseLeasesResponse, LeaseRevokeRequest, LeaseRevokeResponse, LeaseStatus,
    LeaseTimeToLiveRequest, LeaseTimeToLiveResponse, ResponseHeader, alarm_request,
};
use ringkv_proto::ringkvpb::RaftRequest;
use ringkv_proto::ringkvpb::raft_request::Request;

use crate::apply::Applied;
use crate::error::EtcdError;
use crate::service::Context;

/// etcd's leaseOverhead: what a grant costs against the quota.
const LEASE_OVERHEAD: u64 = 64;
/// How often the raft core looks for expired leases (etcd: every 500 ms).
pub const EXPIRY_CHECK_INTERVAL: Duration = Duration::from_millis(500);
/// etcd's leaseRevokeRate (1000/s), per check.
const REVOKES_PER_CHECK: usize = 500;

async fn propose(ctx: &Context, request: Request) -> Result<Applied, EtcdError> {
    let request = RaftRequest {
        request: Some(request),
    };
    ctx.node
        .propose(request, ctx.limits.max_request_bytes)
        .await
}

pub async fn grant(
    ctx: &Context,
    mut r: LeaseGrantRequest,
) -> Result<LeaseGrantResponse, EtcdError> {
    if let Some(quota) = ctx.limits.quota_bytes
        && ctx.mvcc.db_size().saturating_add(LEASE_OVERHEAD) >= quota
    {
        raise_nospace(ctx).await;
        return Err(EtcdError::NoSpace);
    }
    // The proposer picks the ID so every member applies the same one.
    if r.id == 0 {
        r.id = ctx.lessor.next_id();
    }
    match propose(ctx, Request::LeaseGrant(r)).await? {
        Applied::LeaseGrant(mut resp) => {
            ctx.fill(&mut resp.header);
            Ok(resp)
        }
        _ => Err(EtcdError::Stopped),
    }
}

async fn raise_nospace(ctx: &Context) {
    let raise = AlarmRequest {
        action: alarm_request::AlarmAction::Activate as i32,
        member_id: ctx.identity.member_id,
        alarm: AlarmType::Nospace as i32,
    };
    if let Err(e) = crate::service::maintenance::alarm(ctx, raise).await {
        tracing::warn!(error = %e, "cannot raise the NOSPACE alarm");
    }
}

pub async fn revoke(
    ctx: &Context,
    r: LeaseRevokeRequest,
) -> Result<LeaseRevokeResponse, EtcdError> {
    match propose(ctx, Request::LeaseRevoke(r)).await? {
        Applied::LeaseRevoke(mut resp) => {
            ctx.fill(&mut resp.header);
            Ok(resp)
        }
        _ => Err(EtcdError::Stopped),
    }
}

/// One keepalive: an unknown (or expired) lease answers TTL 0, not an error.
pub fn keep_alive(ctx: &Context, id: i64) -> LeaseKeepAliveResponse {
    LeaseKeepAliveResponse {
        header: ctx.header(),
        id,
        ttl: ctx.lessor.renew(id).unwrap_or(0),
    }
}

/// An unknown lease answers TTL -1 with an empty header (etcd's quirk), not an error.
pub fn time_to_live(
    ctx: &Context,
    r: &LeaseTimeToLiveRequest,
) -> Result<LeaseTimeToLiveResponse, EtcdError> {
    let Some((granted_ttl, ttl)) = ctx.lessor.time_to_live(r.id) else {
        return Ok(LeaseTimeToLiveResponse {
            header: Some(ResponseHeader::default()),
            id: r.id,
            ttl: -1,
            ..LeaseTimeToLiveResponse::default()
        });
    };
    let keys = if r.keys {
        let keys = ctx
            .mvcc
            .read()
            .lease_keys(r.id)
            .map_err(|e| crate::service::kv::client_error(e.into()))?;
        keys.into_iter().map(Into::into).collect()
    } else {
        Vec::new()
    };
    Ok(LeaseTimeToLiveResponse {
        header: ctx.header(),
        id: r.id,
        ttl,
        granted_ttl,
        keys,
    })
}

pub fn leases(ctx: &Context) -> LeaseLeasesResponse {
    LeaseLeasesResponse {
        header: ctx.header(),
        leases: ctx
            .lessor
            .leases()
            .into_iter()
            .map(|id| LeaseStatus { id })
            .collect(),
    }
}

/// The raft core's expiry loop: while this member leads, expired leases are revoked
/// through raft, at most etcd's rate. Ends when the node stops.
pub async fn expire_leases(ctx: std::rc::Rc<Context>) {
    loop {
        glommio::timer::sleep(EXPIRY_CHECK_INTERVAL).await;
        let status = ctx.node.status();
        if ctx.node.stopped() {
            return;
        }
        if status.leader != ctx.identity.member_id {
            continue;
        }
        for id in ctx.lessor.expired(REVOKES_PER_CHECK) {
            let ctx = ctx.clone();
            glommio::spawn_local(async move {
                match revoke(&ctx, LeaseRevokeRequest { id }).await {
                    Ok(_) => tracing::debug!(lease = id, "revoked an expired lease"),
                    // Revoked by a client meanwhile: nothing left to do.
                    Err(EtcdError::LeaseNotFound) => ctx.lessor.revoked(id),
                    // Retried after etcd's retry interval.
                    Err(e) => {
                        tracing::warn!(lease = id, error = %e, "cannot revoke an expired lease")
                    }
                }
            })
            .detach();
        }
    }
}
