//! The versions ringkv reports. etcd clients read `/version` and `Status.version` to decide
//! which API features they may use, so ringkv reports the etcd API level it implements.

/// ringkv's own version.
pub const RINGKV_VERSION: &str = env!("CARGO_PKG_VERSION");
/// The etcd server version ringkv answers as: the etcd 3.5 API.
pub const ETCD_SERVER_VERSION: &str = "3.5.0";
/// The cluster version: with one member it is that member's major.minor.0.
pub const ETCD_CLUSTER_VERSION: &str = "3.5.0";
/// The etcd API version, as `--version` prints it.
pub const ETCD_API_VERSION: &str = "3.5";
