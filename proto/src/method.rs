//! The table of every gRPC method ringkv serves, keyed by its HTTP/2 `:path`.
//!
//! The server dispatches on this table, and the JSON gateway maps its URLs
//! through it, so the method list lives in exactly one place. A test checks it
//! against the descriptor set generated from our `.proto` files.

/// How many messages flow each way on a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallKind {
    /// One request, one response.
    Unary,
    /// Many requests, one response.
    ClientStream,
    /// One request, many responses.
    ServerStream,
    /// Many requests and many responses, interleaved.
    Bidi,
}

impl CallKind {
    /// The kind for the two `stream` flags of a protobuf method declaration.
    pub const fn from_streaming(client_streaming: bool, server_streaming: bool) -> Self {
        match (client_streaming, server_streaming) {
            (false, false) => CallKind::Unary,
            (true, false) => CallKind::ClientStream,
            (false, true) => CallKind::ServerStream,
            (true, true) => CallKind::Bidi,
        }
    }

    /// Whether the client may send more than one request message.
    pub const fn client_streams(self) -> bool {
        matches!(self, CallKind::ClientStream | CallKind::Bidi)
    }

    /// Whether the server may send more than one response message.
    pub const fn server_streams(self) -> bool {
        matches!(self, CallKind::ServerStream | CallKind::Bidi)
    }
}

/// One gRPC method.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Method {
    /// The HTTP/2 `:path`, e.g. `/etcdserverpb.KV/Range`.
    pub path: &'static str,
    /// Fully qualified service name, e.g. `etcdserverpb.KV`.
    pub service: &'static str,
    /// Method name within the service, e.g. `Range`.
    pub name: &'static str,
    pub kind: CallKind,
    /// etcd's gRPC-gateway URL (always POST), `None` where etcd has none.
    pub gateway: Option<&'static str>,
    /// Further gateway URLs etcd binds to the same method.
    pub gateway_aliases: &'static [&'static str],
}

impl Method {
    /// Whether `url` (already stripped of any `/v3beta` rewrite) is one of
    /// this method's gateway URLs.
    pub fn has_gateway_url(&self, url: &str) -> bool {
        self.gateway == Some(url) || self.gateway_aliases.contains(&url)
    }
}

macro_rules! methods {
    ($($service:literal / $name:literal : $kind:ident, $gateway:expr $(, [$($alias:literal),*])?;)*) => {
        &[$(Method {
            path: concat!("/", $service, "/", $name),
            service: $service,
            name: $name,
            kind: CallKind::$kind,
            gateway: $gateway,
            gateway_aliases: &[$($($alias),*)?],
        }),*]
    };
}

/// Every method ringkv serves, grouped by service in etcd's declaration order.
///
/// Sources: etcd 3.4 `rpc.proto` plus `Downgrade` and `AuthStatus` (3.5) and
/// `RangeStream` (3.7); etcd's election and lock services; gRPC health.
/// `HashKV`'s gateway URL is the 3.5.10+/3.6 one (older etcd bound it to
/// `/v3/maintenance/hash`, where `Hash` shadowed it).
pub static METHODS: &[Method] = methods! {
    "etcdserverpb.KV" / "Range": Unary, Some("/v3/kv/range");
    "etcdserverpb.KV" / "RangeStream": ServerStream, None;
    "etcdserverpb.KV" / "Put": Unary, Some("/v3/kv/put");
    "etcdserverpb.KV" / "DeleteRange": Unary, Some("/v3/kv/deleterange");
    "etcdserverpb.KV" / "Txn": Unary, Some("/v3/kv/txn");
    "etcdserverpb.KV" / "Compact": Unary, Some("/v3/kv/compaction");

    "etcdserverpb.Watch" / "Watch": Bidi, Some("/v3/watch");

    "etcdserverpb.Lease" / "LeaseGrant": Unary, Some("/v3/lease/grant");
    "etcdserverpb.Lease" / "LeaseRevoke": Unary, Some("/v3/lease/revoke"), ["/v3/kv/lease/revoke"];
    "etcdserverpb.Lease" / "LeaseKeepAlive": Bidi, Some("/v3/lease/keepalive");
    "etcdserverpb.Lease" / "LeaseTimeToLive": Unary, Some("/v3/lease/timetolive"), ["/v3/kv/lease/timetolive"];
    "etcdserverpb.Lease" / "LeaseLeases": Unary, Some("/v3/lease/leases"), ["/v3/kv/lease/leases"];

    "etcdserverpb.Cluster" / "MemberAdd": Unary, Some("/v3/cluster/member/add");
    "etcdserverpb.Cluster" / "MemberRemove": Unary, Some("/v3/cluster/member/remove");
    "etcdserverpb.Cluster" / "MemberUpdate": Unary, Some("/v3/cluster/member/update");
    "etcdserverpb.Cluster" / "MemberList": Unary, Some("/v3/cluster/member/list");
    "etcdserverpb.Cluster" / "MemberPromote": Unary, Some("/v3/cluster/member/promote");

    "etcdserverpb.Maintenance" / "Alarm": Unary, Some("/v3/maintenance/alarm");
    "etcdserverpb.Maintenance" / "Status": Unary, Some("/v3/maintenance/status");
    "etcdserverpb.Maintenance" / "Defragment": Unary, Some("/v3/maintenance/defragment");
    "etcdserverpb.Maintenance" / "Hash": Unary, Some("/v3/maintenance/hash");
    "etcdserverpb.Maintenance" / "HashKV": Unary, Some("/v3/maintenance/hashkv");
    "etcdserverpb.Maintenance" / "Snapshot": ServerStream, Some("/v3/maintenance/snapshot");
    "etcdserverpb.Maintenance" / "MoveLeader": Unary, Some("/v3/maintenance/transfer-leadership");
    "etcdserverpb.Maintenance" / "Downgrade": Unary, Some("/v3/maintenance/downgrade");

    "etcdserverpb.Auth" / "AuthEnable": Unary, Some("/v3/auth/enable");
    "etcdserverpb.Auth" / "AuthDisable": Unary, Some("/v3/auth/disable");
    "etcdserverpb.Auth" / "AuthStatus": Unary, Some("/v3/auth/status");
    "etcdserverpb.Auth" / "Authenticate": Unary, Some("/v3/auth/authenticate");
    "etcdserverpb.Auth" / "UserAdd": Unary, Some("/v3/auth/user/add");
    "etcdserverpb.Auth" / "UserGet": Unary, Some("/v3/auth/user/get");
    "etcdserverpb.Auth" / "UserList": Unary, Some("/v3/auth/user/list");
    "etcdserverpb.Auth" / "UserDelete": Unary, Some("/v3/auth/user/delete");
    "etcdserverpb.Auth" / "UserChangePassword": Unary, Some("/v3/auth/user/changepw");
    "etcdserverpb.Auth" / "UserGrantRole": Unary, Some("/v3/auth/user/grant");
    "etcdserverpb.Auth" / "UserRevokeRole": Unary, Some("/v3/auth/user/revoke");
    "etcdserverpb.Auth" / "RoleAdd": Unary, Some("/v3/auth/role/add");
    "etcdserverpb.Auth" / "RoleGet": Unary, Some("/v3/auth/role/get");
    "etcdserverpb.Auth" / "RoleList": Unary, Some("/v3/auth/role/list");
    "etcdserverpb.Auth" / "RoleDelete": Unary, Some("/v3/auth/role/delete");
    "etcdserverpb.Auth" / "RoleGrantPermission": Unary, Some("/v3/auth/role/grant");
    "etcdserverpb.Auth" / "RoleRevokePermission": Unary, Some("/v3/auth/role/revoke");

    "v3electionpb.Election" / "Campaign": Unary, Some("/v3/election/campaign");
    "v3electionpb.Election" / "Proclaim": Unary, Some("/v3/election/proclaim");
    "v3electionpb.Election" / "Leader": Unary, Some("/v3/election/leader");
    "v3electionpb.Election" / "Observe": ServerStream, Some("/v3/election/observe");
    "v3electionpb.Election" / "Resign": Unary, Some("/v3/election/resign");

    "v3lockpb.Lock" / "Lock": Unary, Some("/v3/lock/lock");
    "v3lockpb.Lock" / "Unlock": Unary, Some("/v3/lock/unlock");

    "grpc.health.v1.Health" / "Check": Unary, None;
    "grpc.health.v1.Health" / "Watch": ServerStream, None;
};

/// The method served at the HTTP/2 `:path` `path`, or `None` for a path
/// ringkv does not serve (which the server answers with `Unimplemented`).
pub fn lookup(path: &str) -> Option<&'static Method> {
    // Fifty entries: a scan whose string compares mostly fail on length is
    // cheaper than hashing the path.
    METHODS.iter().find(|m| m.path == path)
}

/// The method bound to gateway URL `url` (after any `/v3beta` → `/v3`
/// rewrite), or `None`.
pub fn lookup_gateway(url: &str) -> Option<&'static Method> {
    METHODS.iter().find(|m| m.has_gateway_url(url))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FILE_DESCRIPTOR_SET;
    use prost::Message;
    use std::collections::BTreeMap;

    /// Every RPC declared in our descriptor set, as path → kind.
    fn descriptor_methods() -> BTreeMap<String, CallKind> {
        let fds = prost_types::FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).unwrap();
        let mut out = BTreeMap::new();
        for file in &fds.file {
            for service in &file.service {
                for method in &service.method {
                    let path = format!("/{}.{}/{}", file.package(), service.name(), method.name());
                    let kind = CallKind::from_streaming(
                        method.client_streaming(),
                        method.server_streaming(),
                    );
                    assert!(out.insert(path, kind).is_none());
                }
            }
        }
        out
    }

    #[test]
    fn table_matches_descriptor_set() {
        let declared = descriptor_methods();
        for (path, kind) in &declared {
            let m = lookup(path).unwrap_or_else(|| panic!("{path} missing from METHODS"));
            assert_eq!(m.kind, *kind, "{path}");
        }
        for m in METHODS {
            assert_eq!(
                declared.get(m.path),
                Some(&m.kind),
                "{} not declared",
                m.path
            );
            assert_eq!(m.path, format!("/{}/{}", m.service, m.name));
        }
        assert_eq!(declared.len(), METHODS.len());
    }

    #[test]
    fn paths_and_gateway_urls_are_unique() {
        let mut paths = std::collections::BTreeSet::new();
        let mut urls = std::collections::BTreeSet::new();
        for m in METHODS {
            assert!(paths.insert(m.path), "{}", m.path);
            for url in m.gateway.iter().chain(m.gateway_aliases) {
                assert!(url.starts_with("/v3/"), "{url}");
                assert!(urls.insert(*url), "{url}");
            }
        }
    }

    #[test]
    fn counts_match_the_contract() {
        let count = |prefix: &str| {
            METHODS
                .iter()
                .filter(|m| m.path.starts_with(prefix))
                .count()
        };
        // 39 in etcd 3.4, plus Downgrade and AuthStatus (3.5) and RangeStream (3.7).
        assert_eq!(count("/etcdserverpb."), 39 + 3);
        assert_eq!(count("/v3electionpb.Election/"), 5);
        assert_eq!(count("/v3lockpb.Lock/"), 2);
        assert_eq!(count("/grpc.health.v1.Health/"), 2);
        assert_eq!(METHODS.len(), 42 + 5 + 2 + 2);
    }

    #[test]
    fn lookup_known_paths() {
        let range = lookup("/etcdserverpb.KV/Range").unwrap();
        assert_eq!((range.service, range.name), ("etcdserverpb.KV", "Range"));
        assert_eq!(range.kind, CallKind::Unary);
        assert_eq!(
            lookup("/etcdserverpb.Watch/Watch").unwrap().kind,
            CallKind::Bidi
        );
        assert_eq!(
            lookup("/etcdserverpb.Maintenance/Snapshot").unwrap().kind,
            CallKind::ServerStream
        );
        assert_eq!(
            lookup("/etcdserverpb.Maintenance/HashKV").unwrap().gateway,
            Some("/v3/maintenance/hashkv")
        );
        assert_eq!(
            lookup("/v3lockpb.Lock/Unlock").unwrap().gateway,
            Some("/v3/lock/unlock")
        );
        assert_eq!(
            lookup("/grpc.health.v1.Health/Watch").unwrap().gateway,
            None
        );
    }

    #[test]
    fn lookup_unknown_paths_is_none() {
        for path in [
            "",
            "/",
            "/etcdserverpb.KV/",
            "/etcdserverpb.KV/range",
            "/etcdserverpb.KV/Range/",
            "etcdserverpb.KV/Range",
            "/etcdserverpb.KV/Rang",
            "/etcdserverpb.KV/RangeX",
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
            "/v3/kv/range",
        ] {
            assert!(lookup(path).is_none(), "{path:?}");
        }
    }

    #[test]
    fn gateway_lookup_follows_aliases() {
        assert_eq!(lookup_gateway("/v3/kv/range").unwrap().name, "Range");
        assert_eq!(
            lookup_gateway("/v3/kv/lease/revoke").unwrap().name,
            "LeaseRevoke"
        );
        assert_eq!(
            lookup_gateway("/v3/lease/revoke").unwrap().name,
            "LeaseRevoke"
        );
        assert_eq!(lookup_gateway("/v3/maintenance/hash").unwrap().name, "Hash");
        assert!(lookup_gateway("/v3beta/kv/range").is_none());
        assert!(lookup_gateway("/v3/kv/rangestream").is_none());
    }

    #[test]
    fn call_kind_flags_round_trip() {
        for kind in [
            CallKind::Unary,
            CallKind::ClientStream,
            CallKind::ServerStream,
            CallKind::Bidi,
        ] {
            assert_eq!(
                CallKind::from_streaming(kind.client_streams(), kind.server_streams()),
                kind
            );
        }
    }
}
