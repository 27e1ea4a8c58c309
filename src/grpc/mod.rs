//! The gRPC front door: an HTTP/2 connection handed over by the protocol sniffer is
//! served by ringkv-net's driver with this core's [`Router`], which maps every etcd method
//! path to its service handler: decode the request with prost, call the handler, encode
//! the response or send the handler's `EtcdError` as etcd's code and message. Methods of
//! services not built yet answer UNIMPLEMENTED naming what is missing.

use std::collections::HashSet;
use std::future::Future;
use std::rc::Rc;

use bytes::Bytes;
use futures_lite::{AsyncRead, AsyncWrite};
use prost::Message as _;
use ringkv_net::grpc::{Code, Metadata, Status};
use ringkv_net::server::{Call, Peer, Responses, Router, ServerConfig, serve_connection};
use ringkv_proto::etcdserverpb::{
    AlarmRequest, CompactionRequest, DefragmentRequest, DeleteRangeRequest, HashKvRequest,
    HashRequest, LeaseGrantRequest, LeaseKeepAliveRequest, LeaseLeasesRequest, LeaseRevokeRequest,
    LeaseTimeToLiveRequest, MemberAddRequest, MemberListRequest, MemberPromoteRequest,
    MemberRemoveRequest, MemberUpdateRequest, MoveLeaderRequest, PutRequest, RangeRequest,
    SnapshotRequest, SnapshotResponse, StatusRequest, TxnRequest, WatchRequest, WatchResponse,
};

pub mod leader;

use crate::error::EtcdError;
use crate::runtime::Shutdown;
use crate::service::cluster::{self, CHANGES_NOT_SUPPORTED, ChangeRefusal};
use crate::service::maintenance::{SnapshotError, SnapshotSink};
use crate::service::watch::WatchTransport;
use crate::service::{Context, kv, lease, maintenance, watch};

/// The router of one core: handlers are `!Send` and live with the core's connections.
pub fn router(ctx: Rc<Context>) -> Router {
    let mut routes = Routes {
        router: Router::new(),
        ctx,
        served: HashSet::new(),
    };
    routes.router.health(&[]);
    routes.served.insert(ringkv_net::server::HEALTH_CHECK_PATH);

    routes.unary(
        "/etcdserverpb.KV/Range",
        |ctx, r: RangeRequest| async move { kv::range(&ctx, r).await },
    );
    routes.unary("/etcdserverpb.KV/Put", |ctx, r: PutRequest| async move {
        kv::put(&ctx, r).await
    });
    routes.unary(
        "/etcdserverpb.KV/DeleteRange",
        |ctx, r: DeleteRangeRequest| async move { kv::delete_range(&ctx, r).await },
    );
    routes.unary("/etcdserverpb.KV/Txn", |ctx, r: TxnRequest| async move {
        kv::txn(&ctx, r).await
    });
    routes.unary(
        "/etcdserverpb.KV/Compact",
        |ctx, r: CompactionRequest| async move { kv::compact(&ctx, r).await },
    );

    routes.unary(
        "/etcdserverpb.Maintenance/Status",
        |ctx, _: StatusRequest| async move { maintenance::status(&ctx) },
    );
    routes.unary(
        "/etcdserverpb.Maintenance/Hash",
        |ctx, _: HashRequest| async move { maintenance::hash(&ctx) },
    );
    routes.unary(
        "/etcdserverpb.Maintenance/HashKV",
        |ctx, r: HashKvRequest| async move { maintenance::hash_kv(&ctx, &r) },
    );
    routes.unary(
        "/etcdserverpb.Maintenance/Alarm",
        |ctx, r: AlarmRequest| async move { maintenance::alarm(&ctx, r).await },
    );
    routes.unary(
        "/etcdserverpb.Maintenance/Defragment",
        |ctx, _: DefragmentRequest| async move { maintenance::defragment(&ctx).await },
    );
    routes.unary(
        "/etcdserverpb.Maintenance/MoveLeader",
        |ctx, r: MoveLeaderRequest| async move { maintenance::move_leader(&ctx, &r) },
    );
    routes.snapshot();

    routes.unary(
        "/etcdserverpb.Lease/LeaseGrant",
        |ctx, r: LeaseGrantRequest| async move { lease::grant(&ctx, r).await },
    );
    routes.unary(
        "/etcdserverpb.Lease/LeaseRevoke",
        |ctx, r: LeaseRevokeRequest| async move { lease::revoke(&ctx, r).await },
    );
    routes.unary(
        "/etcdserverpb.Lease/LeaseTimeToLive",
        |ctx, r: LeaseTimeToLiveRequest| async move { lease::time_to_live(&ctx, &r) },
    );
    routes.unary(
        "/etcdserverpb.Lease/LeaseLeases",
        |ctx, _: LeaseLeasesRequest| async move { Ok(lease::leases(&ctx)) },
    );
    routes.keep_alive();
    routes.watch();

    routes.unary(
        "/etcdserverpb.Cluster/MemberList",
        |ctx, r: MemberListRequest| async move { cluster::member_list(&ctx, r).await },
    );
    routes.refusal(
        "/etcdserverpb.Cluster/MemberAdd",
        |ctx, r: MemberAddRequest| cluster::member_add(ctx, &r),
    );
    routes.refusal(
        "/etcdserverpb.Cluster/MemberRemove",
        |ctx, r: MemberRemoveRequest| cluster::member_remove(ctx, &r),
    );
    routes.refusal(
        "/etcdserverpb.Cluster/MemberUpdate",
        |ctx, r: MemberUpdateRequest| cluster::member_update(ctx, &r),
    );
    routes.refusal(
        "/etcdserverpb.Cluster/MemberPromote",
        |ctx, r: MemberPromoteRequest| cluster::member_promote(ctx, &r),
    );

    routes.not_yet_for_the_rest();
    routes.router
}

/// Registration helpers that keep each route to one line of intent.
struct Routes {
    router: Router,
    ctx: Rc<Context>,
    /// Paths with a real handler; every other method of the table answers UNIMPLEMENTED.
    served: HashSet<&'static str>,
}

impl Routes {
    /// A unary method: prost-decode the request, run `handler`, encode its answer.
    fn unary<Req, Resp, F, Fut>(&mut self, path: &'static str, handler: F)
    where
        Req: prost::Message + Default + 'static,
        Resp: prost::Message,
        F: Fn(Rc<Context>, Req) -> Fut + 'static,
        Fut: Future<Output = Result<Resp, EtcdError>> + 'static,
    {
        self.served.insert(path);
        let ctx = self.ctx.clone();
        let handler = Rc::new(handler);
        self.router.unary(path, move |metadata, body: Bytes| {
            let ctx = ctx.clone();
            let handler = handler.clone();
            async move {
                require_leader(&ctx, &metadata)?;
                let request = decode::<Req>(body)?;
                let response = handler(ctx, request).await.map_err(EtcdError::status)?;
                Ok(Bytes::from(response.encode_to_vec()))
            }
        });
    }

    /// A membership change: answered by etcd's refusal or "not supported yet".
    fn refusal<Req, F>(&mut self, path: &'static str, refuse: F)
    where
        Req: prost::Message + Default + 'static,
        F: Fn(&Context, Req) -> ChangeRefusal + 'static,
    {
        self.served.insert(path);
        let ctx = self.ctx.clone();
        let refuse = Rc::new(refuse);
        self.router.unary(path, move |_metadata, body: Bytes| {
            let ctx = ctx.clone();
            let refuse = refuse.clone();
            async move {
                let request = decode::<Req>(body)?;
                Err(match refuse(&ctx, request) {
                    ChangeRefusal::Etcd(e) => e.status(),
                    ChangeRefusal::NotSupported => {
                        Status::new(Code::Unimplemented, CHANGES_NOT_SUPPORTED)
                    }
                })
            }
        });
    }

    /// A streaming method. As etcd's stream interceptor, a stream opened with
    /// `hasleader: true` is refused without a leader and ends with `etcdserver: no leader`
    /// when the member loses it (see [`leader`]).
    fn stream<F, Fut>(&mut self, path: &'static str, handler: F)
    where
        F: Fn(Rc<Context>, Call) -> Fut + 'static,
        Fut: Future<Output = Result<(), Status>> + 'static,
    {
        self.served.insert(path);
        let ctx = self.ctx.clone();
        let handler = Rc::new(handler);
        self.router.add(path, move |call| {
            let ctx = ctx.clone();
            let handler = handler.clone();
            async move {
                if !requires_leader(&call.metadata) {
                    return handler(ctx, call).await;
                }
                require_leader(&ctx, &call.metadata)?;
                let lost = ctx.clone();
                futures_lite::future::or(handler(ctx, call), async move {
                    lost.leader_loss.wait().await;
                    Err(EtcdError::NoLeader.status())
                })
                .await
            }
        });
    }

    /// `Maintenance/Snapshot`: one request, then the stream of the store's copy.
    fn snapshot(&mut self) {
        self.stream(
            "/etcdserverpb.Maintenance/Snapshot",
            |ctx, call| async move {
                let Call {
                    mut requests,
                    mut responses,
                    ..
                } = call;
                match requests.next().await {
                    Some(Ok(body)) => decode::<SnapshotRequest>(body).map(drop)?,
                    Some(Err(status)) => return Err(status),
                    None => {
                        return Err(Status::new(
                            Code::Internal,
                            "grpc: error while receiving the request: EOF",
                        ));
                    }
                }
                match maintenance::snapshot(&ctx, &mut responses).await {
                    Ok(()) | Err(SnapshotError::Closed) => Ok(()),
                    Err(SnapshotError::Io(message)) => Err(Status::new(Code::Unknown, message)),
                }
            },
        );
    }

    /// `Lease/LeaseKeepAlive`: one answer per request, in order, until the client closes.
    fn keep_alive(&mut self) {
        self.stream(
            "/etcdserverpb.Lease/LeaseKeepAlive",
            |ctx, call| async move {
                let Call {
                    mut requests,
                    mut responses,
                    ..
                } = call;
                while let Some(body) = requests.next().await {
                    let request = decode::<LeaseKeepAliveRequest>(body?)?;
                    let response = lease::keep_alive(&ctx, request.id);
                    if responses
                        .send(Bytes::from(response.encode_to_vec()))
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
                Ok(())
            },
        );
    }

    /// `Watch/Watch`: one bidi stream of many watchers.
    fn watch(&mut self) {
        self.stream("/etcdserverpb.Watch/Watch", |ctx, call| async move {
            let mut transport = CallTransport {
                requests: call.requests,
                responses: call.responses,
                error: None,
            };
            watch::serve(&ctx, &mut transport).await;
            transport.error.map_or(Ok(()), Err)
        });
    }

    /// Every method of the table without a handler yet answers UNIMPLEMENTED with what is
    /// missing, rather than grpc-go's "unknown method", so a user knows it is a gap.
    fn not_yet_for_the_rest(&mut self) {
        for method in ringkv_proto::method::METHODS {
            if self.served.contains(method.path) {
                continue;
            }
            let message = format!(
                "ringkv: {} is not supported yet",
                method.path.trim_start_matches('/')
            );
            self.router.add(method.path, move |_call| {
                let status = Status::new(Code::Unimplemented, message.clone());
                async move { Err(status) }
            });
        }
    }
}

impl SnapshotSink for Responses {
    async fn send(&mut self, message: SnapshotResponse) -> Result<(), ()> {
        Responses::send(self, Bytes::from(message.encode_to_vec()))
            .await
            .map_err(drop)
    }
}

/// A watch stream over one gRPC call; a request that fails to arrive or decode ends the
/// stream with that status. A client that ends its side cleanly keeps receiving events,
/// as from etcd, until the call is gone.
struct CallTransport {
    requests: ringkv_net::server::Requests,
    responses: Responses,
    error: Option<Status>,
}

impl WatchTransport for CallTransport {
    async fn recv(&mut self) -> Option<WatchRequest> {
        let Some(next) = self.requests.next().await else {
            self.requests.closed().await;
            return None;
        };
        let decoded = match next {
            Ok(body) => decode::<WatchRequest>(body),
            Err(status) => Err(status),
        };
        decoded.map_err(|status| self.error = Some(status)).ok()
    }

    async fn send(&mut self, response: WatchResponse) -> Result<(), ()> {
        self.responses
            .send(Bytes::from(response.encode_to_vec()))
            .await
            .map_err(drop)
    }
}

/// etcd's interceptor: a client that sent `hasleader: true` (clientv3's
/// `WithRequireLeader`) is refused while no leader is known.
fn require_leader(ctx: &Context, metadata: &Metadata) -> Result<(), Status> {
    if requires_leader(metadata) && ctx.node.status().leader == 0 {
        return Err(EtcdError::NoLeader.status());
    }
    Ok(())
}

fn requires_leader(metadata: &Metadata) -> bool {
    metadata.get_str("hasleader") == Some("true")
}

/// grpc-go's answer to a request message that does not decode.
fn decode<M: prost::Message + Default>(body: Bytes) -> Result<M, Status> {
    M::decode(body).map_err(|e| {
        Status::new(
            Code::Internal,
            format!("grpc: error unmarshalling request: {e}"),
        )
    })
}

/// Serves one HTTP/2 connection; `already_read` is what the sniffer consumed.
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    already_read: Vec<u8>,
    peer: Peer,
    shutdown: Shutdown,
    router: Rc<Router>,
    config: &ServerConfig,
) {
    let result = serve_connection(
        stream,
        &already_read,
        router,
        config.clone(),
        peer,
        async move {
            shutdown.wait().await;
        },
    )
    .await;
    if let Err(e) = result {
        tracing::debug!(error = %e, "gRPC connection ended");
    }
}
