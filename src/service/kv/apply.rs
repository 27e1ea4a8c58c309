//! Executes KV requests against the MVCC store with etcd's semantics (etcd's
//! `applierV3backend`: Range, Put, DeleteRange, Txn, Compaction). Requests reaching here
//! have passed `check`; what is left are the checks that need the store (missing key for
//! `ignore_value`, unknown lease, historical revisions).
//!
//! Header revisions follow etcd exactly: a sub-response carries only the revision its
//! operation saw or made, a nested Txn's header stays empty, and the caller fills
//! cluster/member/term into the outermost header only.

use bytes::Bytes;
use ringkv_proto::etcdserverpb::{
    CompactionRequest, CompactionResponse, Compare, DeleteRangeRequest, DeleteRangeResponse,
    PutRequest, PutResponse, RangeRequest, RangeResponse, RequestOp, ResponseHeader, ResponseOp,
    TxnRequest, TxnResponse, compare, range_request, request_op, response_op,
};
use ringkv_proto::mvccpb;
use ringkv_store::mvcc::{
    KeyValue, MvccError, MvccRead, MvccWrite, RangeOptions, RangeResult, Side,
};

use crate::error::EtcdError;

/// Why a request could not be applied. A `Client` error is etcd's answer to the request
/// and changes nothing; a `Store` error means the store itself failed, which etcd treats
/// as fatal (it panics) and the raft core must too.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Client(#[from] EtcdError),
    #[error("store: {0}")]
    Store(MvccError),
}

impl From<MvccError> for ApplyError {
    fn from(e: MvccError) -> ApplyError {
        match e {
            MvccError::Compacted => ApplyError::Client(EtcdError::Compacted),
            MvccError::FutureRevision => ApplyError::Client(EtcdError::FutureRev),
            other => ApplyError::Store(other),
        }
    }
}

/// What Range needs from a store view: both a read snapshot and an open write (which sees
/// its own earlier writes, as inside a Txn) provide it.
pub trait RangeView {
    fn range_at(
        &self,
        key: &[u8],
        range_end: &[u8],
        opts: RangeOptions,
    ) -> Result<RangeResult, MvccError>;
    /// The revision this view serves (etcd's `rv.Rev()`).
    fn current_revision(&self) -> i64;
    fn compacted_revision(&self) -> i64;
    fn lease_exists(&self, lease: i64) -> Result<bool, MvccError>;
}

/// The side-table key of a lease: its ID, big-endian, so leases scan in ID order.
pub fn lease_key(lease: i64) -> [u8; 8] {
    lease.to_be_bytes()
}

impl RangeView for MvccRead {
    fn range_at(&self, key: &[u8], end: &[u8], o: RangeOptions) -> Result<RangeResult, MvccError> {
        self.range(key, end, o)
    }
    fn current_revision(&self) -> i64 {
        self.revision()
    }
    fn compacted_revision(&self) -> i64 {
        self.compact_revision()
    }
    fn lease_exists(&self, lease: i64) -> Result<bool, MvccError> {
        Ok(self.side_get(Side::Lease, &lease_key(lease))?.is_some())
    }
}

impl RangeView for MvccWrite<'_> {
    fn range_at(&self, key: &[u8], end: &[u8], o: RangeOptions) -> Result<RangeResult, MvccError> {
        self.range(key, end, o)
    }
    fn current_revision(&self) -> i64 {
        self.revision()
    }
    fn compacted_revision(&self) -> i64 {
        self.compact_revision()
    }
    fn lease_exists(&self, lease: i64) -> Result<bool, MvccError> {
        Ok(self.side_get(Side::Lease, &lease_key(lease))?.is_some())
    }
}

fn header(revision: i64) -> Option<ResponseHeader> {
    Some(ResponseHeader {
        revision,
        ..ResponseHeader::default()
    })
}

pub(crate) fn to_proto(kv: KeyValue) -> mvccpb::KeyValue {
    mvccpb::KeyValue {
        key: Bytes::from(kv.key),
        create_revision: kv.create_revision,
        mod_revision: kv.mod_revision,
        version: kv.version,
        value: Bytes::from(kv.value),
        lease: kv.lease,
    }
}

/// etcd's Range: filters and sorting need every match, so only a plain range hands its
/// limit (+1, to learn `more`) to the store.
pub fn range(view: &impl RangeView, r: &RangeRequest) -> Result<RangeResponse, ApplyError> {
    use range_request::{SortOrder, SortTarget};
    let sort_order = SortOrder::try_from(r.sort_order).unwrap_or(SortOrder::None);
    let sort_target = SortTarget::try_from(r.sort_target).unwrap_or(SortTarget::Key);
    let filtered = r.min_mod_revision != 0
        || r.max_mod_revision != 0
        || r.min_create_revision != 0
        || r.max_create_revision != 0;
    let limit = if sort_order != SortOrder::None || filtered || r.limit <= 0 {
        0
    } else {
        // A limit this large is no limit; saturate rather than overflow.
        u64::try_from(r.limit).unwrap_or(u64::MAX).saturating_add(1)
    };
    let opts = RangeOptions {
        limit,
        revision: r.revision,
        count_only: r.count_only,
    };
    let result = view.range_at(&r.key, &r.range_end, opts)?;
    let mut kvs = result.kvs;
    if r.max_mod_revision != 0 {
        kvs.retain(|kv| kv.mod_revision <= r.max_mod_revision);
    }
    if r.min_mod_revision != 0 {
        kvs.retain(|kv| kv.mod_revision >= r.min_mod_revision);
    }
    if r.max_create_revision != 0 {
        kvs.retain(|kv| kv.create_revision <= r.max_create_revision);
    }
    if r.min_create_revision != 0 {
        kvs.retain(|kv| kv.create_revision >= r.min_create_revision);
    }
    // The store returns key order: sorting by key ascending is a no-op, and any other
    // target with no order given means ascending (etcd's rule).
    let order = match (sort_target, sort_order) {
        (SortTarget::Key, SortOrder::Ascend) => SortOrder::None,
        (target, SortOrder::None) if target != SortTarget::Key => SortOrder::Ascend,
        (_, order) => order,
    };
    if order != SortOrder::None {
        // Stable in both directions, so ties keep key order: etcd sorts with Go's
        // sort.Sort(sort.Reverse(..)) for descending, whose insertion sort (small results)
        // keeps equal elements where they were.
        let descend = order == SortOrder::Descend;
        let directed = |o: std::cmp::Ordering| if descend { o.reverse() } else { o };
        match sort_target {
            SortTarget::Key => kvs.sort_by(|a, b| directed(a.key.cmp(&b.key))),
            SortTarget::Version => kvs.sort_by(|a, b| directed(a.version.cmp(&b.version))),
            SortTarget::Create => {
                kvs.sort_by(|a, b| directed(a.create_revision.cmp(&b.create_revision)))
            }
            SortTarget::Mod => kvs.sort_by(|a, b| directed(a.mod_revision.cmp(&b.mod_revision))),
            SortTarget::Value => kvs.sort_by(|a, b| directed(a.value.cmp(&b.value))),
        }
    }
    let mut more = false;
    if let Ok(limit) = usize::try_from(r.limit)
        && limit > 0
        && kvs.len() > limit
    {
        kvs.truncate(limit);
        more = true;
    }
    let kvs = kvs
        .into_iter()
        .map(|mut kv| {
            if r.keys_only {
                kv.value = Vec::new();
            }
            to_proto(kv)
        })
        .collect();
    Ok(RangeResponse {
        header: header(result.revision),
        kvs,
        more,
        count: result.count,
    })
}

/// The single current version of `key`, if it is live.
fn current(view: &impl RangeView, key: &[u8]) -> Result<Option<KeyValue>, ApplyError> {
    Ok(view
        .range_at(key, &[], RangeOptions::default())?
        .kvs
        .into_iter()
        .next())
}

/// A Put outside a Txn: etcd checks the lease first, before opening the write.
pub fn put(w: &mut MvccWrite<'_>, p: &PutRequest) -> Result<PutResponse, ApplyError> {
    if p.lease != 0 && !w.lease_exists(p.lease)? {
        return Err(EtcdError::LeaseNotFound.into());
    }
    put_in_txn(w, p)
}

fn put_in_txn(w: &mut MvccWrite<'_>, p: &PutRequest) -> Result<PutResponse, ApplyError> {
    let prev = if p.ignore_value || p.ignore_lease || p.prev_kv {
        current(w, &p.key)?
    } else {
        None
    };
    if (p.ignore_value || p.ignore_lease) && prev.is_none() {
        return Err(EtcdError::KeyNotFound.into());
    }
    let value: &[u8] = match (&prev, p.ignore_value) {
        (Some(prev), true) => &prev.value,
        _ => &p.value,
    };
    let lease = match (&prev, p.ignore_lease) {
        (Some(prev), true) => prev.lease,
        _ => p.lease,
    };
    w.put(&p.key, value, lease)?;
    Ok(PutResponse {
        header: header(w.revision()),
        prev_kv: if p.prev_kv { prev.map(to_proto) } else { None },
    })
}

pub fn delete_range(
    w: &mut MvccWrite<'_>,
    d: &DeleteRangeRequest,
) -> Result<DeleteRangeResponse, ApplyError> {
    let prev_kvs = if d.prev_kv {
        w.range(&d.key, &d.range_end, RangeOptions::default())?
            .kvs
            .into_iter()
            .map(to_proto)
            .collect()
    } else {
        Vec::new()
    };
    let deleted = w.delete_range(&d.key, &d.range_end)?;
    Ok(DeleteRangeResponse {
        header: header(w.revision()),
        deleted,
        prev_kvs,
    })
}

/// Compaction does not make a revision; its header shows the current one.
pub fn compact(
    w: &mut MvccWrite<'_>,
    c: &CompactionRequest,
) -> Result<CompactionResponse, ApplyError> {
    w.compact(c.revision)?;
    Ok(CompactionResponse {
        header: header(w.revision()),
    })
}

/// True when no operation on any branch writes: etcd then serves the Txn from a read
/// snapshot (and `check` lets a read-only Txn skip raft when serializable).
pub fn txn_is_read_only(t: &TxnRequest) -> bool {
    t.success
        .iter()
        .chain(&t.failure)
        .all(|op| match &op.request {
            Some(request_op::Request::RequestRange(_)) | None => true,
            Some(request_op::Request::RequestTxn(t)) => txn_is_read_only(t),
            Some(_) => false,
        })
}

/// etcd's Txn: every compare (nested ones too) is decided against the state before the
/// Txn, then the chosen branches are checked, then executed in order as one revision.
pub fn txn<V: RangeView>(view: &V, t: &TxnRequest) -> Result<TxnPlan, ApplyError> {
    let mut path = Vec::new();
    choose_path(view, t, &mut path)?;
    let mut cursor = 0;
    check_chosen(view, t, &path, &mut cursor)?;
    Ok(TxnPlan { path })
}

/// The branch taken by a Txn and each nested Txn on it, in execution order.
pub struct TxnPlan {
    path: Vec<bool>,
}

impl TxnPlan {
    /// Runs the chosen branches against an open write.
    pub fn execute(self, w: &mut MvccWrite<'_>, t: &TxnRequest) -> Result<TxnResponse, ApplyError> {
        let mut cursor = 0;
        let mut resp = execute_txn(w, t, &self.path, &mut cursor)?;
        resp.header = header(w.revision());
        Ok(resp)
    }

    /// Runs a read-only Txn against a snapshot.
    pub fn execute_read(self, r: &MvccRead, t: &TxnRequest) -> Result<TxnResponse, ApplyError> {
        let mut cursor = 0;
        let mut resp = execute_read_txn(r, t, &self.path, &mut cursor)?;
        resp.header = header(r.revision());
        Ok(resp)
    }
}

fn branch(t: &TxnRequest, succeeded: bool) -> &[RequestOp] {
    if succeeded { &t.success } else { &t.failure }
}

fn choose_path(
    view: &impl RangeView,
    t: &TxnRequest,
    path: &mut Vec<bool>,
) -> Result<(), ApplyError> {
    let succeeded = t.compare.iter().all(|c| compare_holds(view, c));
    path.push(succeeded);
    for op in branch(t, succeeded) {
        if let Some(request_op::Request::RequestTxn(nested)) = &op.request {
            choose_path(view, nested, path)?;
        }
    }
    Ok(())
}

fn check_chosen(
    view: &impl RangeView,
    t: &TxnRequest,
    path: &[bool],
    cursor: &mut usize,
) -> Result<(), ApplyError> {
    let succeeded = path.get(*cursor).copied().unwrap_or(false);
    *cursor += 1;
    for op in branch(t, succeeded) {
        match &op.request {
            Some(request_op::Request::RequestPut(p)) => {
                if (p.ignore_value || p.ignore_lease) && current(view, &p.key)?.is_none() {
                    return Err(EtcdError::KeyNotFound.into());
                }
                if p.lease != 0 && !view.lease_exists(p.lease)? {
                    return Err(EtcdError::LeaseNotFound.into());
                }
            }
            Some(request_op::Request::RequestRange(r)) => {
                if r.revision > view.current_revision() {
                    return Err(EtcdError::FutureRev.into());
                }
                if r.revision != 0 && r.revision < view.compacted_revision() {
                    return Err(EtcdError::Compacted.into());
                }
            }
            Some(request_op::Request::RequestTxn(nested)) => {
                check_chosen(view, nested, path, cursor)?;
            }
            Some(request_op::Request::RequestDeleteRange(_)) | None => {}
        }
    }
    Ok(())
}

fn execute_txn(
    w: &mut MvccWrite<'_>,
    t: &TxnRequest,
    path: &[bool],
    cursor: &mut usize,
) -> Result<TxnResponse, ApplyError> {
    let succeeded = path.get(*cursor).copied().unwrap_or(false);
    *cursor += 1;
    let mut responses = Vec::new();
    for op in branch(t, succeeded) {
        let response = match &op.request {
            Some(request_op::Request::RequestRange(r)) => {
                response_op::Response::ResponseRange(range(&*w, r)?)
            }
            Some(request_op::Request::RequestPut(p)) => {
                response_op::Response::ResponsePut(put_in_txn(w, p)?)
            }
            Some(request_op::Request::RequestDeleteRange(d)) => {
                response_op::Response::ResponseDeleteRange(delete_range(w, d)?)
            }
            Some(request_op::Request::RequestTxn(nested)) => {
                response_op::Response::ResponseTxn(execute_txn(w, nested, path, cursor)?)
            }
            None => continue,
        };
        responses.push(ResponseOp {
            response: Some(response),
        });
    }
    Ok(TxnResponse {
        header: Some(ResponseHeader::default()),
        succeeded,
        responses,
    })
}

fn execute_read_txn(
    r: &MvccRead,
    t: &TxnRequest,
    path: &[bool],
    cursor: &mut usize,
) -> Result<TxnResponse, ApplyError> {
    let succeeded = path.get(*cursor).copied().unwrap_or(false);
    *cursor += 1;
    let mut responses = Vec::new();
    for op in branch(t, succeeded) {
        let response = match &op.request {
            Some(request_op::Request::RequestRange(q)) => {
                response_op::Response::ResponseRange(range(r, q)?)
            }
            Some(request_op::Request::RequestTxn(nested)) => {
                response_op::Response::ResponseTxn(execute_read_txn(r, nested, path, cursor)?)
            }
            // A read-only Txn has no writes; `txn_is_read_only` guarantees it.
            Some(_) | None => continue,
        };
        responses.push(ResponseOp {
            response: Some(response),
        });
    }
    Ok(TxnResponse {
        header: Some(ResponseHeader::default()),
        succeeded,
        responses,
    })
}

/// etcd's applyCompare: every key in the compare's range must satisfy it; comparing the
/// value of a missing key always fails, other targets compare against zero.
fn compare_holds(view: &impl RangeView, c: &Compare) -> bool {
    let Ok(result) = view.range_at(&c.key, &c.range_end, RangeOptions::default()) else {
        return false;
    };
    let target =
        compare::CompareTarget::try_from(c.target).unwrap_or(compare::CompareTarget::Version);
    if result.kvs.is_empty() {
        if target == compare::CompareTarget::Value {
            return false;
        }
        return compare_kv(c, target, &KeyValue::default());
    }
    result.kvs.iter().all(|kv| compare_kv(c, target, kv))
}

fn compare_kv(c: &Compare, target: compare::CompareTarget, kv: &KeyValue) -> bool {
    use compare::{CompareResult, CompareTarget, TargetUnion};
    let ordering = match target {
        CompareTarget::Value => {
            let want: &[u8] = match &c.target_union {
                Some(TargetUnion::Value(v)) => v,
                _ => &[],
            };
            kv.value.as_slice().cmp(want)
        }
        CompareTarget::Version => kv.version.cmp(&union_int(c, |u| match u {
            TargetUnion::Version(v) => Some(*v),
            _ => None,
        })),
        CompareTarget::Create => kv.create_revision.cmp(&union_int(c, |u| match u {
            TargetUnion::CreateRevision(v) => Some(*v),
            _ => None,
        })),
        CompareTarget::Mod => kv.mod_revision.cmp(&union_int(c, |u| match u {
            TargetUnion::ModRevision(v) => Some(*v),
            _ => None,
        })),
        CompareTarget::Lease => kv.lease.cmp(&union_int(c, |u| match u {
            TargetUnion::Lease(v) => Some(*v),
            _ => None,
        })),
    };
    match CompareResult::try_from(c.result) {
        Ok(CompareResult::Equal) => ordering.is_eq(),
        Ok(CompareResult::NotEqual) => ordering.is_ne(),
        Ok(CompareResult::Greater) => ordering.is_gt(),
        Ok(CompareResult::Less) => ordering.is_lt(),
        // etcd's switch falls through to `true` for a result it does not know.
        Err(_) => true,
    }
}

/// The integer a compare names for its target, or 0 when the union holds another kind
/// (etcd reads a mismatched union as zero).
fn union_int(c: &Compare, pick: impl Fn(&compare::TargetUnion) -> Option<i64>) -> i64 {
    c.target_union.as_ref().and_then(pick).unwrap_or(0)
}
