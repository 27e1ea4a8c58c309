//! Every client-visible etcd error, defined once: etcd's gRPC code and exact message.
//! clientv3 turns errors back into typed errors by comparing message strings, so the
//! messages must match etcd byte for byte (etcd's `api/v3rpc/rpctypes/error.go` and the
//! server-error mapping in `v3rpc/util.go`). Handlers return `EtcdError`; the gRPC front
//! door sends `status()`, the JSON gateway `gateway_http_status` of its code.

use ringkv_net::grpc::{Code, Status};

macro_rules! etcd_errors {
    ($( $(#[$doc:meta])* $name:ident => ($code:ident, $message:literal), )*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum EtcdError {
            $( $(#[$doc])* $name, )*
        }

        impl EtcdError {
            /// Every error, in table order.
            pub const ALL: &'static [EtcdError] = &[$(EtcdError::$name,)*];

            pub fn code(self) -> Code {
                match self { $(EtcdError::$name => Code::$code,)* }
            }

            /// etcd's exact message.
            pub fn message(self) -> &'static str {
                match self { $(EtcdError::$name => $message,)* }
            }
        }
    };
}

etcd_errors! {
    EmptyKey => (InvalidArgument, "etcdserver: key is not provided"),
    KeyNotFound => (InvalidArgument, "etcdserver: key not found"),
    ValueProvided => (InvalidArgument, "etcdserver: value is provided"),
    LeaseProvided => (InvalidArgument, "etcdserver: lease is provided"),
    TtlZero => (InvalidArgument, "etcdserver: ttl is 0"),
    TooManyOps => (InvalidArgument, "etcdserver: too many operations in txn request"),
    DuplicateKey => (InvalidArgument, "etcdserver: duplicate key given in txn request"),
    /// 3.6+: a sort order or target outside the enum.
    InvalidSortOption => (InvalidArgument, "etcdserver: invalid sort option"),
    Compacted => (OutOfRange, "etcdserver: mvcc: required revision has been compacted"),
    FutureRev => (OutOfRange, "etcdserver: mvcc: required revision is a future revision"),
    NoSpace => (ResourceExhausted, "etcdserver: mvcc: database space exceeded"),

    LeaseNotFound => (NotFound, "etcdserver: requested lease not found"),
    LeaseExist => (FailedPrecondition, "etcdserver: lease already exists"),
    LeaseTtlTooLarge => (OutOfRange, "etcdserver: too large lease TTL"),

    WatchCanceled => (Canceled, "etcdserver: watch canceled"),

    MemberExist => (FailedPrecondition, "etcdserver: member ID already exist"),
    PeerUrlExist => (FailedPrecondition, "etcdserver: Peer URLs already exists"),
    MemberNotEnoughStarted => (FailedPrecondition, "etcdserver: re-configuration failed due to not enough started members"),
    MemberBadUrls => (InvalidArgument, "etcdserver: given member URLs are invalid"),
    MemberNotFound => (NotFound, "etcdserver: member not found"),
    MemberNotLearner => (FailedPrecondition, "etcdserver: can only promote a learner member"),
    LearnerNotReady => (FailedPrecondition, "etcdserver: can only promote a learner member which is in sync with leader"),
    TooManyLearners => (FailedPrecondition, "etcdserver: too many learner members in cluster"),

    RequestTooLarge => (InvalidArgument, "etcdserver: request is too large"),
    TooManyRequests => (ResourceExhausted, "etcdserver: too many requests"),

    RootUserNotExist => (FailedPrecondition, "etcdserver: root user does not exist"),
    RootRoleNotExist => (FailedPrecondition, "etcdserver: root user does not have root role"),
    UserAlreadyExist => (FailedPrecondition, "etcdserver: user name already exists"),
    UserEmpty => (InvalidArgument, "etcdserver: user name is empty"),
    UserNotFound => (FailedPrecondition, "etcdserver: user name not found"),
    RoleAlreadyExist => (FailedPrecondition, "etcdserver: role name already exists"),
    RoleNotFound => (FailedPrecondition, "etcdserver: role name not found"),
    RoleEmpty => (InvalidArgument, "etcdserver: role name is empty"),
    AuthFailed => (InvalidArgument, "etcdserver: authentication failed, invalid user ID or password"),
    PermissionNotGiven => (InvalidArgument, "etcdserver: permission not given"),
    PermissionDenied => (PermissionDenied, "etcdserver: permission denied"),
    RoleNotGranted => (FailedPrecondition, "etcdserver: role is not granted to the user"),
    PermissionNotGranted => (FailedPrecondition, "etcdserver: permission is not granted to the role"),
    AuthNotEnabled => (FailedPrecondition, "etcdserver: authentication is not enabled"),
    InvalidAuthToken => (Unauthenticated, "etcdserver: invalid auth token"),
    InvalidAuthMgmt => (InvalidArgument, "etcdserver: invalid auth management"),
    AuthOldRevision => (InvalidArgument, "etcdserver: revision of auth store is old"),

    NoLeader => (Unavailable, "etcdserver: no leader"),
    NotLeader => (FailedPrecondition, "etcdserver: not leader"),
    LeaderChanged => (Unavailable, "etcdserver: leader changed"),
    NotCapable => (Unavailable, "etcdserver: not capable"),
    Stopped => (Unavailable, "etcdserver: server stopped"),
    Timeout => (Unavailable, "etcdserver: request timed out"),
    TimeoutDueToLeaderFail => (Unavailable, "etcdserver: request timed out, possibly due to previous leader failure"),
    TimeoutDueToConnectionLost => (Unavailable, "etcdserver: request timed out, possibly due to connection lost"),
    TimeoutWaitAppliedIndex => (Unavailable, "etcdserver: request timed out, waiting for the applied index took too long"),
    Unhealthy => (Unavailable, "etcdserver: unhealthy cluster"),
    Corrupt => (DataLoss, "etcdserver: corrupt cluster"),
    NotSupportedForLearner => (Unavailable, "etcdserver: rpc not supported for learner"),
    BadLeaderTransferee => (FailedPrecondition, "etcdserver: bad leader transferee"),
    RequestCanceled => (Canceled, "etcdserver: request canceled"),
    ContextDeadlineExceeded => (DeadlineExceeded, "etcdserver: context deadline exceeded"),

    ClusterVersionUnavailable => (Unavailable, "etcdserver: cluster version not found during downgrade"),
    WrongDowngradeVersionFormat => (InvalidArgument, "etcdserver: wrong downgrade target version format"),
    InvalidDowngradeTargetVersion => (InvalidArgument, "etcdserver: invalid downgrade target version"),
    DowngradeInProcess => (FailedPrecondition, "etcdserver: cluster has a downgrade job in progress"),
    NoInflightDowngrade => (FailedPrecondition, "etcdserver: no inflight downgrade job"),
}

impl EtcdError {
    pub fn status(self) -> Status {
        Status::new(self.code(), self.message())
    }
}

impl std::fmt::Display for EtcdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for EtcdError {}

/// The HTTP status etcd's JSON gateway (grpc-gateway v1, etcd 3.4/3.5) answers for a gRPC
/// code.
pub fn gateway_http_status(code: Code) -> u16 {
    match code {
        Code::Ok => 200,
        Code::Canceled | Code::DeadlineExceeded => 408,
        Code::InvalidArgument | Code::OutOfRange => 400,
        Code::NotFound => 404,
        Code::AlreadyExists | Code::Aborted => 409,
        Code::PermissionDenied => 403,
        Code::Unauthenticated => 401,
        Code::ResourceExhausted => 429,
        Code::FailedPrecondition => 412,
        Code::Unimplemented => 501,
        Code::Unavailable => 503,
        Code::Unknown | Code::Internal | Code::DataLoss => 500,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn messages_are_unique_and_prefixed() {
        let mut seen = HashSet::new();
        for e in EtcdError::ALL {
            assert!(seen.insert(e.message()), "duplicate message {e:?}");
            assert!(e.message().starts_with("etcdserver: "), "{e:?}");
        }
    }

    #[test]
    fn observed_etcd_answers() {
        // Observed against etcd 3.4.23 (ETCD-CONTRACT.md §1.4): code and gateway status.
        let cases = [
            (EtcdError::EmptyKey, Code::InvalidArgument, 400),
            (EtcdError::Compacted, Code::OutOfRange, 400),
            (EtcdError::NoSpace, Code::ResourceExhausted, 429),
            (EtcdError::LeaseNotFound, Code::NotFound, 404),
            (EtcdError::LeaseExist, Code::FailedPrecondition, 412),
            (EtcdError::UserEmpty, Code::InvalidArgument, 400),
            (EtcdError::InvalidAuthToken, Code::Unauthenticated, 401),
            (EtcdError::PermissionDenied, Code::PermissionDenied, 403),
            (EtcdError::NoLeader, Code::Unavailable, 503),
            (EtcdError::Corrupt, Code::DataLoss, 500),
        ];
        for (error, code, http) in cases {
            assert_eq!(error.code(), code, "{error:?}");
            assert_eq!(gateway_http_status(error.code()), http, "{error:?}");
        }
        assert_eq!(
            EtcdError::Compacted.status(),
            Status::new(
                Code::OutOfRange,
                "etcdserver: mvcc: required revision has been compacted"
            )
        );
    }
}
