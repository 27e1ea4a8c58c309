//! Start-up and shutdown of a ringkv member: logging, the data directory, then the
//! per-core runtime until a signal stops it.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;

use crate::datadir::{DataDir, DataDirError};
use crate::runtime::{self, RuntimeConfig, RuntimeError, ServerInfo};

/// What `serve` needs, already validated by the command line.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub name: String,
    pub data_dir: PathBuf,
    /// `host:port` of each `--listen-client-urls` entry.
    pub listen_client_hosts: Vec<String>,
    pub cores: usize,
    /// `--initial-cluster` as (name, peer URL) pairs, and `--initial-cluster-token`.
    pub initial_cluster: Vec<(String, String)>,
    pub initial_cluster_token: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    #[error("cannot resolve listen address {host:?}: {reason}")]
    Resolve { host: String, reason: String },
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
    let client_addrs = options
        .listen_client_hosts
        .iter()
        .map(|host| resolve(host))
        .collect::<Result<Vec<_>, _>>()?;
    let data_dir = DataDir::open(&options.data_dir)?;
    let (members, cluster_id) =
        crate::cluster::initial_members(&options.initial_cluster, &options.initial_cluster_token);
    let member_id = members
        .iter()
        .find(|m| m.name == options.name)
        .map_or(0, |m| m.id);
    tracing::info!(
        local_member_id = %format!("{member_id:x}"),
        cluster_id = %format!("{cluster_id:x}"),
        "starting local member"
    );
    let info = Arc::new(ServerInfo {
        name: options.name.clone(),
    });
    runtime::run(
        RuntimeConfig {
            cores: options.cores,
            client_addrs,
        },
        info,
    )?;
    drop(data_dir);
    tracing::info!(name = %options.name, "stopped ringkv server");
    Ok(())
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
