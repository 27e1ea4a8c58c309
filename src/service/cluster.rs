//! The Cluster service. Membership changes through raft are a later issue; until then a
//! single member lists itself and answers changes with etcd's errors where etcd would
//! refuse, and with a clear "not supported yet" where etcd would act.

use ringkv_proto::etcdserverpb::{
    Member, MemberAddRequest, MemberListRequest, MemberListResponse, MemberPromoteRequest,
    MemberRemoveRequest, MemberUpdateRequest,
};

use crate::error::EtcdError;
use crate::service::Context;

pub const CHANGES_NOT_SUPPORTED: &str =
    "ringkv: membership changes are not supported yet (clustering)";

fn this_member(ctx: &Context) -> Member {
    Member {
        id: ctx.identity.member_id,
        name: ctx.identity.name.clone(),
        peer_ur_ls: ctx.identity.peer_urls.clone(),
        client_ur_ls: ctx.identity.client_urls.clone(),
        is_learner: false,
    }
}

pub async fn member_list(
    ctx: &Context,
    r: MemberListRequest,
) -> Result<MemberListResponse, EtcdError> {
    if r.linearizable {
        ctx.node.linearize().await?;
    }
    Ok(MemberListResponse {
        header: ctx.header(),
        members: vec![this_member(ctx)],
    })
}

/// What a membership change gets before clustering lands.
pub enum ChangeRefusal {
    Etcd(EtcdError),
    NotSupported,
}

pub fn member_add(ctx: &Context, r: &MemberAddRequest) -> ChangeRefusal {
    if r.peer_ur_ls
        .iter()
        .any(|u| ctx.identity.peer_urls.contains(u))
    {
        return ChangeRefusal::Etcd(EtcdError::PeerUrlExist);
    }
    ChangeRefusal::NotSupported
}

pub fn member_remove(ctx: &Context, r: &MemberRemoveRequest) -> ChangeRefusal {
    if r.id != ctx.identity.member_id {
        return ChangeRefusal::Etcd(EtcdError::MemberNotFound);
    }
    ChangeRefusal::NotSupported
}

pub fn member_update(ctx: &Context, r: &MemberUpdateRequest) -> ChangeRefusal {
    if r.id != ctx.identity.member_id {
        return ChangeRefusal::Etcd(EtcdError::MemberNotFound);
    }
    ChangeRefusal::NotSupported
}

pub fn member_promote(ctx: &Context, r: &MemberPromoteRequest) -> ChangeRefusal {
    if r.id != ctx.identity.member_id {
        return ChangeRefusal::Etcd(EtcdError::MemberNotFound);
    }
    ChangeRefusal::Etcd(EtcdError::MemberNotLearner)
}
