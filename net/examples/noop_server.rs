//! A no-op unary gRPC method (`/bench.Noop/Call`: any request, an empty response) served by
//! ringkv-net or by tonic, for issue 3's throughput comparison with one load generator
//! driving both (`scripts/bench-net.sh` runs h2load against each).
//!
//!   cargo run --release -p ringkv-net --example noop_server -- ringkv PORT CORES
//!   cargo run --release -p ringkv-net --example noop_server -- tonic PORT THREADS
//!
//! ringkv-net runs one glommio executor per core, each accepting on its own SO_REUSEPORT
//! socket (as the server does); tonic runs on a tokio multi-thread runtime with that many
//! workers. Both serve until killed.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::net::SocketAddr;
use std::rc::Rc;

use bytes::Bytes;
use ringkv_net::server::{Peer, Router, ServerConfig, serve_connection};
use tonic::codegen::{BoxFuture, Context, Poll, Service, http};
use tonic::{Request, Response, Status};

#[path = "../tests/common/raw_codec.rs"]
mod raw_codec;
use raw_codec::RawCodec;

const PATH: &str = "/bench.Noop/Call";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: noop_server ringkv|tonic PORT CORES";
    let (Some(kind), Some(port), Some(cores)) = (args.get(1), args.get(2), args.get(3)) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("a port number");
    let cores: usize = cores.parse().expect("a core count");
    match kind.as_str() {
        "ringkv" => ringkv(addr, cores),
        "tonic" => tonic(addr, cores),
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    }
}

fn ringkv(addr: SocketAddr, cores: usize) {
    let executors: Vec<_> = (0..cores)
        .map(|core| {
            glommio::LocalExecutorBuilder::new(glommio::Placement::Fixed(core))
                .spawn(move || async move {
                    let listener = glommio::net::TcpListener::bind(addr).expect("bind");
                    let mut router = Router::new();
                    router.unary(PATH, |_, _| async { Ok(Bytes::new()) });
                    let router = Rc::new(router);
                    loop {
                        let Ok(stream) = listener.accept().await else {
                            continue;
                        };
                        let _ = stream.set_nodelay(true);
                        let router = router.clone();
                        glommio::spawn_local(async move {
                            let never = std::future::pending::<()>();
                            let _ = serve_connection(
                                stream,
                                &[],
                                router,
                                ServerConfig::default(),
                                Peer::default(),
                                never,
                            )
                            .await;
                        })
                        .detach();
                    }
                })
                .expect("start an executor")
        })
        .collect();
    for executor in executors {
        let _ = executor.join();
    }
}

fn tonic(addr: SocketAddr, threads: usize) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        tonic::transport::Server::builder()
            .tcp_nodelay(true)
            .add_service(Noop)
            .serve(addr)
            .await
            .expect("serve");
    });
}

/// What tonic-build would generate for a one-method service, by hand.
#[derive(Clone)]
struct Noop;

impl tonic::server::NamedService for Noop {
    const NAME: &'static str = "bench.Noop";
}

impl<B> Service<http::Request<B>> for Noop
where
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(RawCodec);
            Ok(grpc.unary(Call, request).await)
        })
    }
}

struct Call;

impl tonic::server::UnaryService<Bytes> for Call {
    type Response = Bytes;
    type Future = Ready<Result<Response<Bytes>, Status>>;

    fn call(&mut self, _: Request<Bytes>) -> Self::Future {
        ready(Ok(Response::new(Bytes::new())))
    }
}
