//! The thread-per-core runtime: one pinned glommio executor per core, each accepting client
//! connections on every client address through its own SO_REUSEPORT socket, serving them
//! to completion on that core, and draining on shutdown. Core 0 is also the raft core: it
//! runs the raft node's Ready loop (and so the store's only writer), and stops it last.

pub(crate) mod connection;
pub mod cpus;
mod listener;
mod shutdown;

use std::net::SocketAddr;
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_lite::AsyncReadExt;
use glommio::net::{TcpListener, UnixStream};
use glommio::sync::Gate;
use glommio::{LocalExecutorBuilder, Placement};
use ringkv_net::server::Peer;
use ringkv_net::tls::TlsAcceptor;

pub use shutdown::{Shutdown, ShutdownHandle};

use crate::apply::{Applier, ApplyOutcome};
use crate::auto_compact::AutoCompaction;
use crate::raft::{RaftConfig, RaftHandle, RaftInbox, RaftNode};
use crate::service::Context;

/// How long in-flight requests may take to finish after SIGINT/SIGTERM.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// What the runtime needs to start serving.
#[derive(Clone)]
pub struct RuntimeConfig {
    /// Number of executors, each pinned to one allowed CPU.
    pub cores: usize,
    /// Client addresses to listen on (port 0 picks a free port, logged at start).
    pub clients: Vec<ClientListener>,
    /// Limits and keepalive of every gRPC connection (etcd's `--grpc-keepalive-*`,
    /// `--max-concurrent-streams`, `--max-request-bytes`).
    pub grpc: ringkv_net::server::ServerConfig,
}

/// One `--listen-client-urls` entry.
#[derive(Clone)]
pub struct ClientListener {
    pub addr: SocketAddr,
    /// `https://`: connections start with a TLS handshake.
    pub tls: Option<TlsAcceptor>,
}

/// A client that connects and does not finish its TLS handshake is dropped after this long.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What the raft core needs to start the raft node (moved to core 0 at spawn).
pub struct RaftCore {
    pub config: RaftConfig,
    pub applier: Applier,
    pub inbox: RaftInbox<ApplyOutcome>,
    /// Kept to stop the node once core 0 has drained its connections.
    pub handle: RaftHandle<ApplyOutcome>,
    /// The compactor the raft core runs, if `--auto-compaction-retention` asks for one.
    pub auto_compaction: Option<AutoCompaction>,
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("cannot read this process's CPU affinity: {0}")]
    Affinity(std::io::Error),
    #[error("--cores {requested} is out of range: this process may run on {available} CPU(s)")]
    Cores { requested: usize, available: usize },
    #[error("listen tcp {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    #[error("cannot start executor for core {core}: {message}{hint}")]
    Executor {
        core: usize,
        message: String,
        hint: String,
    },
}

/// Starts one executor per core, serves until SIGINT/SIGTERM (or a fatal raft error),
/// drains, and returns. Every core serves with its own clone of `context`.
pub fn run(config: RuntimeConfig, context: Context, raft: RaftCore) -> Result<(), RuntimeError> {
    let allowed = cpus::allowed_cpus().map_err(RuntimeError::Affinity)?;
    if config.cores == 0 || config.cores > allowed.len() {
        return Err(RuntimeError::Cores {
            requested: config.cores,
            available: allowed.len(),
        });
    }
    let cores = config.cores;
    let completion = cpus::completion_cpus(&raft.config.wal_dir);
    let placement = cpus::placement(&allowed, cores, completion.as_deref());
    if placement.first() != allowed.first() {
        tracing::info!(
            cpu = placement.first().copied().unwrap_or_default(),
            "placing the raft core on the CPU that takes the WAL device's completion interrupts"
        );
    }

    let mut listeners: Vec<Vec<(OwnedFd, Option<TlsAcceptor>)>> =
        (0..cores).map(|_| Vec::new()).collect();
    let mut bound = Vec::with_capacity(config.clients.len());
    for client in &config.clients {
        let requested = client.addr;
        let bind_error = |source| RuntimeError::Bind {
            addr: requested,
            source,
        };
        let addr = listener::probe(requested).map_err(bind_error)?;
        for core_listeners in &mut listeners {
            let fd = listener::bind_reuseport(addr).map_err(bind_error)?;
            core_listeners.push((fd, client.tls.clone()));
        }
        bound.push((addr, client.tls.is_some()));
    }

    let (shutdown, wakeups) = ShutdownHandle::install(cores).map_err(RuntimeError::Signals)?;
    let memlock = cpus::memlock_limit();
    let io_memory = cpus::io_memory_per_executor(memlock, cores);
    tracing::info!(
        cores,
        cpus = ?placement,
        io_memory_per_core = io_memory,
        "starting executors"
    );

    let started = Arc::new(AtomicUsize::new(0));
    let bound = Arc::new(bound);
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let mut raft = Some(raft);
    for (core, (core_listeners, wakeup)) in listeners.into_iter().zip(wakeups).enumerate() {
        let cpu = placement[core];
        let context = context.clone();
        let grpc = config.grpc.clone();
        let raft = raft.take();
        let started = started.clone();
        let bound = bound.clone();
        let shutdown_all = shutdown.clone();
        let spawned = LocalExecutorBuilder::new(Placement::Fixed(cpu))
            .name(&format!("ringkv-core-{core}"))
            .io_memory(io_memory)
            .spawn(move || async move {
                let announce = || {
                    // The last core to start announces readiness, as etcd does once.
                    if started.fetch_add(1, Ordering::AcqRel) + 1 == cores {
                        for (addr, tls) in bound.iter() {
                            if *tls {
                                tracing::info!(address = %addr, "serving client traffic securely");
                            } else {
                                tracing::info!(address = %addr, "serving client traffic insecurely; this is strongly discouraged!");
                            }
                        }
                        tracing::info!("ready to serve client requests");
                    }
                };
                serve_core(
                    core_listeners,
                    wakeup,
                    context,
                    grpc,
                    raft,
                    shutdown_all,
                    announce,
                )
                .await
            });
        let done_tx = done_tx.clone();
        match spawned {
            // glommio reports ring/memlock failures only through join(), so each executor
            // is joined on its own thread and the first failure stops the others.
            Ok(handle) => {
                std::thread::spawn(move || {
                    let result = match handle.join() {
                        Ok(served) => served,
                        Err(e) => Err(e.to_string()),
                    };
                    let _ = done_tx.send((core, result));
                });
            }
            Err(e) => {
                let _ = done_tx.send((core, Err(e.to_string())));
            }
        }
    }
    drop(done_tx);

    let mut first_error = None;
    for (core, result) in done_rx {
        if let Err(message) = result {
            shutdown.trigger_all();
            first_error.get_or_insert_with(|| executor_error(core, message, memlock));
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn executor_error(core: usize, message: String, memlock: Option<u64>) -> RuntimeError {
    let lower = message.to_lowercase();
    let hint = if lower.contains("memlock") || lower.contains("cannot allocate memory") {
        format!(
            " (io_uring needs locked memory; RLIMIT_MEMLOCK is {}: raise it with `ulimit -l` \
             or LimitMEMLOCK= in the systemd unit, or run with fewer --cores)",
            memlock.map_or("unlimited".to_owned(), |b| format!("{} KiB", b / 1024))
        )
    } else {
        String::new()
    };
    RuntimeError::Executor {
        core,
        message,
        hint,
    }
}

/// One core's life: (on the raft core, start the raft node), accept on every listener
/// until shutdown, drain, then (on the raft core) stop the raft node.
async fn serve_core(
    listeners: Vec<(OwnedFd, Option<TlsAcceptor>)>,
    wakeup: OwnedFd,
    context: Context,
    grpc: ringkv_net::server::ServerConfig,
    raft: Option<RaftCore>,
    shutdown_all: ShutdownHandle,
    on_started: impl FnOnce(),
) -> Result<(), String> {
    let shutdown = Shutdown::default();
    glommio::spawn_local(wait_for_wakeup(wakeup, shutdown.clone())).detach();

    let auto_compaction = raft.as_ref().and_then(|core| core.auto_compaction);
    let election_timeout = raft.as_ref().map(|core| {
        core.config.heartbeat_interval
            * u32::try_from(core.config.election_ticks).unwrap_or(u32::MAX)
    });
    let raft = match raft {
        Some(core) => {
            let node = RaftNode::open(core.config, core.applier, core.inbox)
                .map_err(|e| format!("cannot start raft: {e}"))?;
            let task = glommio::spawn_local(async move {
                let result = node.run().await;
                if let Err(e) = &result {
                    // Nothing can be written any more: stop serving rather than time out.
                    tracing::error!(error = %e, "raft node stopped; shutting down");
                    shutdown_all.trigger_all();
                }
                result
            });
            Some((core.handle, task))
        }
        None => None,
    };

    let context = Rc::new(context);
    if let Some(election_timeout) = election_timeout {
        // Only the raft core (the leader's) revokes expired leases.
        glommio::spawn_local(crate::service::lease::expire_leases(context.clone())).detach();
        // One leader monitor for the member; it wakes hasleader streams on every core.
        let ctx = context.clone();
        glommio::spawn_local(async move {
            let leader = || ctx.node.status().leader;
            ctx.leader_loss.monitor(election_timeout, leader).await;
        })
        .detach();
        if let Some(mode) = auto_compaction {
            tracing::info!(?mode, "auto compaction enabled");
            glommio::spawn_local(crate::auto_compact::run(context.clone(), mode)).detach();
        }
    }
    let router = Rc::new(crate::grpc::router(context.clone()));
    let grpc = Rc::new(grpc);
    let connections = Gate::new();
    let accept_loops: Vec<_> = listeners
        .into_iter()
        .map(|(fd, tls)| {
            // SAFETY: the fd is a listening TCP socket we own; ownership moves to glommio.
            let listener = unsafe { TcpListener::from_raw_fd(fd.into_raw_fd()) };
            glommio::spawn_local(accept_loop(
                listener,
                tls,
                shutdown.clone(),
                connections.clone(),
                router.clone(),
                grpc.clone(),
                context.clone(),
            ))
        })
        .collect();
    on_started();

    for accept_loop in accept_loops {
        accept_loop.await;
    }
    let drained = glommio::timer::timeout(DRAIN_TIMEOUT, async {
        // close() fails only if the gate was already closed; it is not.
        let _ = connections.close().await;
        Ok(())
    })
    .await;
    if drained.is_err() {
        tracing::warn!(timeout = ?DRAIN_TIMEOUT, "connections still busy after the drain timeout; closing them");
    }
    match raft {
        Some((handle, task)) => {
            handle.stop();
            task.await.map_err(|e| format!("raft: {e}"))
        }
        None => Ok(()),
    }
}

/// Turns the signal pipe's byte into this core's shutdown.
async fn wait_for_wakeup(wakeup: OwnedFd, shutdown: Shutdown) {
    // SAFETY: the fd is one end of a Unix socket pair we own; ownership moves to glommio.
    let mut stream = unsafe { UnixStream::from_raw_fd(wakeup.into_raw_fd()) };
    let mut byte = [0u8; 1];
    // Any outcome (a byte, EOF, an error) means nobody can wake us any more: shut down.
    let _ = stream.read(&mut byte).await;
    tracing::debug!("shutdown requested");
    shutdown.trigger();
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    shutdown: Shutdown,
    connections: Gate,
    router: Rc<ringkv_net::server::Router>,
    grpc: Rc<ringkv_net::server::ServerConfig>,
    context: Rc<Context>,
) {
    loop {
        let accepted = futures_lite::future::or(async { Some(listener.accept().await) }, async {
            shutdown.wait().await;
            None
        })
        .await;
        match accepted {
            None => return,
            Some(Ok(stream)) => {
                // Small requests and responses dominate etcd traffic: never wait for Nagle.
                let _ = stream.set_nodelay(true);
                let (shutdown, router, grpc, context) = (
                    shutdown.clone(),
                    router.clone(),
                    grpc.clone(),
                    context.clone(),
                );
                let tls = tls.clone();
                let task = connections.spawn(async move {
                    let Some(acceptor) = tls else {
                        let peer = Peer::default();
                        return connection::serve(stream, peer, shutdown, router, grpc, context)
                            .await;
                    };
                    let handshake = glommio::timer::timeout(TLS_HANDSHAKE_TIMEOUT, async {
                        Ok(acceptor.accept(stream).await)
                    });
                    match handshake.await {
                        Ok(Ok(stream)) => {
                            let peer = Peer {
                                common_name: ringkv_net::tls::peer_common_name(&stream),
                            };
                            connection::serve(stream, peer, shutdown, router, grpc, context).await
                        }
                        Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                });
                match task {
                    Ok(task) => {
                        task.detach();
                    }
                    // The gate closes only after this loop has returned.
                    Err(e) => {
                        tracing::warn!(error = %e, "dropping connection accepted during shutdown")
                    }
                }
            }
            Some(Err(e)) => {
                // EMFILE and friends: back off briefly rather than spin on the error.
                tracing::warn!(error = %e, "accept failed");
                glommio::timer::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
