//! The gRPC front door: an HTTP/2 connection handed over by the protocol sniffer is
//! served by ringkv-net's driver with this core's `Router`. Until the etcd services
//! land, the router answers only `grpc.health.v1.Health/Check` (SERVING).

use std::rc::Rc;

use glommio::net::TcpStream;
use ringkv_net::server::{Router, ServerConfig, serve_connection};

use crate::runtime::Shutdown;

thread_local! {
    /// One router per core: handlers are `!Send` and live with the core's connections.
    static ROUTER: Rc<Router> = Rc::new(build_router());
}

fn build_router() -> Router {
    let mut router = Router::new();
    router.health(&[]);
    router
}

/// This core's router.
pub fn router() -> Rc<Router> {
    ROUTER.with(Rc::clone)
}

/// Serves one HTTP/2 connection; `already_read` is what the sniffer consumed.
pub async fn serve(
    stream: TcpStream,
    already_read: Vec<u8>,
    shutdown: Shutdown,
    router: Rc<Router>,
) {
    let config = ServerConfig::default();
    let result = serve_connection(stream, &already_read, router, config, async move {
        shutdown.wait().await;
    })
    .await;
    if let Err(e) = result {
        tracing::debug!(error = %e, "gRPC connection ended");
    }
}
