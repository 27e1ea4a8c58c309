//! One client connection: read until the preface says which protocol it speaks, then hand
//! it to that front door on this core.

use std::rc::Rc;
use std::time::Duration;

use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite};
use ringkv_net::sniff::{self, Protocol};

use ringkv_net::server::{Peer, Router, ServerConfig};

use super::Shutdown;
use crate::service::Context;

/// A client that connects and sends nothing is dropped after this long.
const PREFACE_TIMEOUT: Duration = Duration::from_secs(10);
const READ_CHUNK: usize = 16 * 1024;

/// Serves one connection, plain TCP or TLS (`peer` says what TLS verified), on this core.
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    peer: Peer,
    shutdown: Shutdown,
    router: Rc<Router>,
    grpc: Rc<ServerConfig>,
    ctx: Rc<Context>,
) {
    let mut buf = Vec::with_capacity(READ_CHUNK);
    let protocol = loop {
        if let Some(protocol) = sniff::detect(&buf) {
            break protocol;
        }
        match read_more(&mut stream, &mut buf, PREFACE_TIMEOUT, &shutdown).await {
            ReadOutcome::Data => {}
            ReadOutcome::Closed => return,
        }
    };
    match protocol {
        Protocol::Http2 => crate::grpc::serve(stream, buf, peer, shutdown, router, &grpc).await,
        Protocol::Http1 => crate::http::serve(stream, buf, shutdown, ctx).await,
    }
}

pub enum ReadOutcome {
    /// At least one byte was appended.
    Data,
    /// End of stream, an error, the idle timeout, or shutdown: the connection is done.
    Closed,
}

/// Appends the next bytes from `stream` to `buf`, giving up after `idle` without data or
/// as soon as shutdown is triggered.
pub async fn read_more<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    idle: Duration,
    shutdown: &Shutdown,
) -> ReadOutcome {
    let start = buf.len();
    buf.resize(start + READ_CHUNK, 0);
    let read = futures_lite::future::or(
        async {
            glommio::timer::timeout(idle, async { Ok(stream.read(&mut buf[start..]).await) })
                .await
                .ok()
        },
        async {
            shutdown.wait().await;
            None
        },
    )
    .await;
    match read {
        Some(Ok(n)) if n > 0 => {
            buf.truncate(start + n);
            ReadOutcome::Data
        }
        _ => {
            buf.truncate(start);
            ReadOutcome::Closed
        }
    }
}
