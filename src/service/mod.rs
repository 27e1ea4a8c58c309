//! The etcd gRPC services, one folder or file per service as etcd's `api/v3rpc` has them.
//! Handlers take decoded requests and return responses or an `EtcdError` from the one
//! error table; they never see transport details.

pub mod kv;
