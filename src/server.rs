//! Start-up and shutdown of a ringkv member: the data directory, the store, the raft
//! node's config and channel, then the per-core runtime until a signal stops it.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ringkv_net::tls::{TlsAcceptor, TlsFiles};
use ringkv_store::mvcc::{Mvcc, MvccError};

use crate::apply::Applier;
use crate::auto_compact::AutoCompaction;
use crate::datadir::{DataDir, DataDirError};
use crate::lease::Lessor;
use crate::raft::{self, ConfigError, RaftConfig};
use crate::runtime::{self, ClientListener, RaftCore, RuntimeConfig, RuntimeError};
use crate::service::{Context, Identity, Limits, Node};
use crate::store_jobs::{CompactionPace, StoreJobs};
use crate::watch::WatchHub;

/// What `serve` needs, already validated by the command line.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub name: String,
    pub data_dir: PathBuf,
    /// `host:port` of each `--listen-client-urls` entry, and whether it is `https`.
    pub listen_clients: Vec<(String, bool)>,
    /// `--cert-file`, `--key-file` and, with `--client-cert-auth`, `--trusted-ca-file`:
    /// what the `https` client URLs serve with.
    pub client_tls: Option<TlsFiles>,
    /// `--auto-tls`: without `client_tls`, serve a self-signed certificate.
    pub auto_tls: bool,
    pub cores: usize,
    /// `--initial-cluster` as (name, peer URL) pairs, and `--initial-cluster-token`.
    pub initial_cluster: Vec<(String, String)>,
    pub initial_cluster_token: String,
    /// `--advertise-client-urls`, as MemberList reports them.
    pub advertise_client_urls: Vec<String>,
    /// `--wal-dir`; `<data-dir>/member/wal` when unset.
    pub wal_dir: Option<PathBuf>,
    /// `--heartbeat-interval` and `--election-timeout`.
    pub heartbeat_interval: Duration,
    pub election_timeout: Duration,
    /// `--snapshot-count` and `--max-wals`.
    pub snapshot_count: u64,
    pub max_wals: usize,
    pub limits: Limits,
    /// `--experimental-watch-progress-notify-interval`.
    pub watch_progress_interval: Duration,
    /// Every gRPC connection's limits and keepalive.
    pub grpc: ringkv_net::server::ServerConfig,
    /// `--experimental-compaction-batch-limit` and `--experimental-compaction-sleep-interval`.
    pub compaction_pace: CompactionPace,
    /// `--auto-compaction-mode` and `--auto-compaction-retention`; `None` when disabled.
    pub auto_compaction: Option<AutoCompaction>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    #[error("cannot resolve listen address {host:?}: {reason}")]
    Resolve { host: String, reason: String },
    #[error("cannot create the WAL directory {path}: {source}")]
    WalDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the store {path}: {source}")]
    Store { path: PathBuf, source: MvccError },
    #[error(transparent)]
    Tls(ringkv_net::tls::TlsError),
    #[error("cannot make the --auto-tls certificate: {0}")]
    AutoTls(std::io::Error),
    #[error("cannot start the store jobs thread: {0}")]
    StoreJobs(std::io::Error),

    #[error("{0}")]
    Raft(#[from] ConfigError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

pub fn serve(options: ServeOptions) -> Result<(), ServeError> {
    tracing::info!(
        ringkv_version = crate::version::RINGKV_VERSION,
        etcd_api_version = crate::version::ETCD_API_VERSION,
        name = %options.name,
        data_dir = %options.data_dir.display(),
        cores = options.cores,
        "starting a ringkv server"
    );
    let data_dir = DataDir::open(&options.data_dir)?;
    let tls_files = match (&options.client_tls, options.auto_tls) {
        (Some(files), _) => Some(files.clone()),
        (None, true) => {
            let hosts: Vec<String> = options
                .listen_clients
                .iter()
                .map(|(host, _)| {
                    let name = host
                        .rsplit_once(':')
                        .map_or(host.as_str(), |(name, _)| name);
                    name.trim_matches(['[', ']']).to_owned()
                })
                .collect();
            let dir = options.data_dir.join("fixtures").join("client");
            Some(crate::auto_tls::self_signed(&dir, &hosts).map_err(ServeError::AutoTls)?)
        }
        (None, false) => None,
    };
    let tls = match &tls_files {
        Some(files) => Some(TlsAcceptor::from(
            ringkv_net::tls::server_config(files).map_err(ServeError::Tls)?,
        )),
        None => None,
    };
    let clients = options
        .listen_clients
        .iter()
        .map(|(host, https)| {
            Ok(ClientListener {
                addr: resolve(host)?,
                tls: if *https { tls.clone() } else { None },
            })
        })
        .collect::<Result<Vec<_>, ServeError>>()?;
    let wal_dir = match &options.wal_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|source| ServeError::WalDir {
                path: dir.clone(),
                source,
            })?;
            dir.clone()
        }
        None => data_dir.wal_dir(),
    };
    let raft_config = raft_config(&options, wal_dir)?;
    let (members, cluster_id) =
        crate::cluster::initial_members(&options.initial_cluster, &options.initial_cluster_token);
    let peer_urls = members
        .iter()
        .find(|m| m.id == raft_config.id)
        .map(|m| m.peer_urls.clone())
        .unwrap_or_default();
    tracing::info!(
        local_member_id = %format!("{:x}", raft_config.id),
        cluster_id = %format!("{cluster_id:x}"),
        "starting local member"
    );

    crate::service::maintenance::remove_stale_snapshots(&data_dir.snap_dir());
    let db_path = data_dir.snap_dir().join("db");
    let mvcc = Mvcc::open(&db_path).map_err(|source| ServeError::Store {
        path: db_path.clone(),
        source,
    })?;
    let (handle, inbox) = raft::channel(&raft_config);
    let lessor = Arc::new(Lessor::new(
        raft_config.id,
        Lessor::min_ttl_for(options.election_timeout),
    ));
    let watch_hub = Arc::new(WatchHub::default());
    let store_jobs =
        StoreJobs::start(mvcc.clone(), options.compaction_pace).map_err(ServeError::StoreJobs)?;
    let context = Context {
        mvcc: mvcc.clone(),
        node: Node::new(handle.clone()),
        identity: Identity {
            cluster_id,
            member_id: raft_config.id,
            name: options.name.clone(),
            peer_urls,
            client_urls: options.advertise_client_urls.clone(),
        },
        limits: options.limits.clone(),
        snap_dir: data_dir.snap_dir(),
        lessor: lessor.clone(),
        watch_hub: watch_hub.clone(),
        watch_progress_interval: options.watch_progress_interval,
        leader_loss: Arc::default(),
        store_jobs: store_jobs.clone(),
    };
    let applier =
        Applier::new(mvcc, lessor, watch_hub, store_jobs).map_err(|source| ServeError::Store {
            path: db_path.clone(),
            source,
        })?;
    let raft_core = RaftCore {
        config: raft_config,
        applier,
        inbox,
        handle,
        auto_compaction: options.auto_compaction,
    };
    runtime::run(
        RuntimeConfig {
            cores: options.cores,
            clients,
            grpc: options.grpc,
        },
        context,
        raft_core,
    )?;
    drop(data_dir);
    tracing::info!(name = %options.name, "stopped ringkv server");
    Ok(())
}

/// The raft node's settings from etcd's flags.
fn raft_config(options: &ServeOptions, wal_dir: PathBuf) -> Result<RaftConfig, ConfigError> {
    let mut config = RaftConfig::from_initial_cluster(
        &options.name,
        &options.initial_cluster,
        &options.initial_cluster_token,
        wal_dir,
    )?;
    config.heartbeat_interval = options.heartbeat_interval;
    // etcd: ElectionTicks = election-timeout / heartbeat-interval (validated at start-up).
    let heartbeat = options.heartbeat_interval.as_millis().max(1);
    config.election_ticks = (options.election_timeout.as_millis() / heartbeat) as usize;
    config.snapshot_count = options.snapshot_count;
    config.max_wals = options.max_wals;
    config.request_timeout = Duration::from_secs(5) + options.election_timeout * 2;
    Ok(config)
}

/// Resolves `host:port` the way Go's listener does for etcd: `localhost` and other names
/// listen on their first address.
fn resolve(host: &str) -> Result<SocketAddr, ServeError> {
    let error = |reason: String| ServeError::Resolve {
        host: host.to_owned(),
        reason,
    };
    let mut addrs = host.to_socket_addrs().map_err(|e| error(e.to_string()))?;
    // Prefer IPv4 for names like `localhost`, as Go does.
    let all: Vec<SocketAddr> = addrs.by_ref().collect();
    all.iter()
        .find(|a| a.is_ipv4())
        .or_else(|| all.first())
        .copied()
        .ok_or_else(|| error("no addresses".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localhost_listens_on_ipv4_loopback() {
        let addr = resolve("localhost:2379").unwrap();
        assert_eq!(addr, "127.0.0.1:2379".parse().unwrap());
        assert!(resolve("256.0.0.1:1").is_err());
    }
}
