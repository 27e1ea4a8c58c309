//! ringkv-proto owns etcd's v3 wire contract: the protobuf messages of the
//! KV, Watch, Lease, Cluster, Maintenance, Auth, Election, Lock and gRPC
//! health services, generated from ringkv's own `.proto` files (names and
//! field numbers identical to etcd's), the encoded descriptor set for the
//! JSON gateway, and the table of gRPC method paths the server dispatches on.
//! It never does I/O and holds no server logic: it only says what the bytes
//! on the wire mean.

pub mod method;

pub use method::{CallKind, Method, lookup};

/// The encoded `google.protobuf.FileDescriptorSet` of every `.proto` file in
/// this crate (imports included), for code that needs field names at run
/// time, such as the JSON gateway.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/file_descriptor_set.bin"));

// The generated modules are prost's output; lints that would ask for
// hand-written changes to them are silenced here, not fixed.
macro_rules! generated {
    ($(#[$doc:meta] $name:ident => $file:literal),* $(,)?) => {
        $(
            #[$doc]
            #[allow(
                clippy::all,
                clippy::pedantic,
                missing_docs,
                rustdoc::all,
                non_snake_case,
                non_camel_case_types
            )]
            pub mod $name {
                include!(concat!(env!("OUT_DIR"), "/", $file));
            }
        )*
    };
}

generated! {
    /// etcd's client API: `etcdserverpb.KV`, `Watch`, `Lease`, `Cluster`, `Maintenance`, `Auth`.
    etcdserverpb => "etcdserverpb.rs",
    /// Stored records and watch events: `mvccpb.KeyValue`, `mvccpb.Event`.
    mvccpb => "mvccpb.rs",
    /// Users, roles and permissions.
    authpb => "authpb.rs",
    /// The `v3electionpb.Election` service.
    v3electionpb => "v3electionpb.rs",
    /// The `v3lockpb.Lock` service.
    v3lockpb => "v3lockpb.rs",
    /// The standard `grpc.health.v1.Health` service.
    grpc_health_v1 => "grpc.health.v1.rs",
    /// ringkv's own raft entry payload (internal, never on the client wire).
    ringkvpb => "ringkvpb.rs",
}
