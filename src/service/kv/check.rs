//! etcd's request checks for the KV service, with etcd's errors and in etcd's order
//! (`api/v3rpc/key.go`): they run before a request is proposed, so a bad request never
//! costs a raft round.

use std::collections::HashSet;

use bytes::Bytes;
use ringkv_proto::etcdserverpb::{
    DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest, range_request,
    request_op::Request,
};

use crate::error::EtcdError;

pub fn check_range(r: &RangeRequest) -> Result<(), EtcdError> {
    if r.key.is_empty() {
        return Err(EtcdError::EmptyKey);
    }
    // etcd 3.6 refuses enum values outside the definition; 3.5 would run them as "no sort".
    if range_request::SortOrder::try_from(r.sort_order).is_err()
        || range_request::SortTarget::try_from(r.sort_target).is_err()
    {
        return Err(EtcdError::InvalidSortOption);
    }
    Ok(())
}

pub fn check_put(r: &PutRequest) -> Result<(), EtcdError> {
    if r.key.is_empty() {
        return Err(EtcdError::EmptyKey);
    }
    if r.ignore_value && !r.value.is_empty() {
        return Err(EtcdError::ValueProvided);
    }
    if r.ignore_lease && r.lease != 0 {
        return Err(EtcdError::LeaseProvided);
    }
    // The store refuses keys over 256 MiB, which only a --max-request-bytes above that lets
    // through; refuse here, before raft, so a Txn never fails halfway through its writes.
    if !ringkv_store::mvcc::key::fits(&r.key) {
        return Err(EtcdError::RequestTooLarge);
    }
    Ok(())
}

pub fn check_delete(r: &DeleteRangeRequest) -> Result<(), EtcdError> {
    if r.key.is_empty() {
        return Err(EtcdError::EmptyKey);
    }
    Ok(())
}

/// The Txn checks: operation counts, then every compare and operation, then the
/// duplicate-key rules for the success and the failure branch (each on its own).
pub fn check_txn(r: &TxnRequest, max_txn_ops: usize) -> Result<(), EtcdError> {
    check_txn_shape(r, max_txn_ops)?;
    WriteSet::of(&r.success)?;
    WriteSet::of(&r.failure)?;
    Ok(())
}

/// Counts and per-operation checks. The longest of the three lists counts against the
/// budget, and a nested Txn gets only what its parent left over (etcd passes
/// `maxTxnOps - opc` down), so deep nesting cannot multiply the work.
fn check_txn_shape(r: &TxnRequest, max_txn_ops: usize) -> Result<(), EtcdError> {
    let ops = r.compare.len().max(r.success.len()).max(r.failure.len());
    if ops > max_txn_ops {
        return Err(EtcdError::TooManyOps);
    }
    if r.compare.iter().any(|c| c.key.is_empty()) {
        return Err(EtcdError::EmptyKey);
    }
    for op in r.success.iter().chain(&r.failure) {
        check_op(op, max_txn_ops - ops)?;
    }
    Ok(())
}

fn check_op(op: &RequestOp, max_txn_ops: usize) -> Result<(), EtcdError> {
    match &op.request {
        Some(Request::RequestRange(r)) => check_range(r),
        Some(Request::RequestPut(r)) => check_put(r),
        Some(Request::RequestDeleteRange(r)) => check_delete(r),
        Some(Request::RequestTxn(r)) => check_txn_shape(r, max_txn_ops),
        // An empty RequestOp is refused with etcd's (surprising) "key not found".
        None => Err(EtcdError::KeyNotFound),
    }
}

/// The keys one branch of a Txn writes: the puts, and the deleted ranges.
///
/// etcd refuses a branch that puts the same key twice, or puts a key that a delete in the
/// same or an enclosing branch covers, anywhere in its nested Txns. A nested Txn's success
/// and failure branches exclude each other, so the same key may be put in both.
#[derive(Default)]
struct WriteSet {
    puts: HashSet<Bytes>,
    deletes: Vec<KeyInterval>,
}

/// A deleted key range `[start, end)`; `end == None` is the single key `start`.
///
/// Bytes compare as in etcd's interval tree, where `"\0"` is an ordinary key: a delete
/// with range_end `"\0"` ("every key from here") covers no key in this check, as in etcd.
struct KeyInterval {
    start: Bytes,
    end: Option<Bytes>,
}

impl KeyInterval {
    fn covers(&self, key: &[u8]) -> bool {
        match &self.end {
            None => self.start == key,
            Some(end) => self.start.as_ref() <= key && key < end.as_ref(),
        }
    }
}

impl WriteSet {
    fn of(ops: &[RequestOp]) -> Result<WriteSet, EtcdError> {
        let mut set = WriteSet::default();
        // This level's deletes first: they also cover puts in nested Txns.
        for op in ops {
            if let Some(Request::RequestDeleteRange(d)) = &op.request {
                set.deletes.push(KeyInterval {
                    start: d.key.clone(),
                    end: (!d.range_end.is_empty()).then(|| d.range_end.clone()),
                });
            }
        }
        for op in ops {
            let Some(Request::RequestTxn(txn)) = &op.request else {
                continue;
            };
            let then = WriteSet::of(&txn.success)?;
            let otherwise = WriteSet::of(&txn.failure)?;
            for key in &then.puts {
                set.add_put(key)?;
            }
            for key in &otherwise.puts {
                // Put by this Txn's success branch too: the branches exclude each other.
                if then.puts.contains(key) {
                    set.check_not_deleted(key)?;
                } else {
                    set.add_put(key)?;
                }
            }
            set.deletes.extend(then.deletes);
            set.deletes.extend(otherwise.deletes);
        }
        for op in ops {
            if let Some(Request::RequestPut(p)) = &op.request {
                set.add_put(&p.key)?;
            }
        }
        Ok(set)
    }

    fn check_not_deleted(&self, key: &[u8]) -> Result<(), EtcdError> {
        if self.deletes.iter().any(|d| d.covers(key)) {
            Err(EtcdError::DuplicateKey)
        } else {
            Ok(())
        }
    }

    fn add_put(&mut self, key: &Bytes) -> Result<(), EtcdError> {
        self.check_not_deleted(key)?;
        if self.puts.insert(key.clone()) {
            Ok(())
        } else {
            Err(EtcdError::DuplicateKey)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringkv_proto::etcdserverpb::Compare;

    const MAX_OPS: usize = 128;

    fn put(key: &str) -> RequestOp {
        RequestOp {
            request: Some(Request::RequestPut(PutRequest {
                key: Bytes::copy_from_slice(key.as_bytes()),
                ..Default::default()
            })),
        }
    }

    fn delete(key: &str, range_end: &str) -> RequestOp {
        RequestOp {
            request: Some(Request::RequestDeleteRange(DeleteRangeRequest {
                key: Bytes::copy_from_slice(key.as_bytes()),
                range_end: Bytes::copy_from_slice(range_end.as_bytes()),
                ..Default::default()
            })),
        }
    }

    fn txn(success: Vec<RequestOp>, failure: Vec<RequestOp>) -> TxnRequest {
        TxnRequest {
            compare: vec![],
            success,
            failure,
        }
    }

    fn nested(success: Vec<RequestOp>, failure: Vec<RequestOp>) -> RequestOp {
        RequestOp {
            request: Some(Request::RequestTxn(txn(success, failure))),
        }
    }

    #[test]
    fn single_requests() {
        assert_eq!(
            check_range(&RangeRequest::default()),
            Err(EtcdError::EmptyKey)
        );
        let bad_sort = RangeRequest {
            key: Bytes::from_static(b"a"),
            sort_order: 7,
            ..Default::default()
        };
        assert_eq!(check_range(&bad_sort), Err(EtcdError::InvalidSortOption));
        let mut p = PutRequest {
            key: Bytes::from_static(b"a"),
            value: Bytes::from_static(b"v"),
            ignore_value: true,
            ..Default::default()
        };
        assert_eq!(check_put(&p), Err(EtcdError::ValueProvided));
        p.value = Bytes::new();
        p.lease = 5;
        p.ignore_lease = true;
        assert_eq!(check_put(&p), Err(EtcdError::LeaseProvided));
        assert_eq!(
            check_delete(&DeleteRangeRequest::default()),
            Err(EtcdError::EmptyKey)
        );
    }

    #[test]
    fn operation_budget_is_shared_with_nested_txns() {
        let many = |n: usize| (0..n).map(|i| put(&format!("k{i}"))).collect::<Vec<_>>();
        assert_eq!(check_txn(&txn(many(128), vec![]), MAX_OPS), Ok(()));
        assert_eq!(
            check_txn(&txn(many(129), vec![]), MAX_OPS),
            Err(EtcdError::TooManyOps)
        );
        // 100 at the top leaves 28 for the nested Txn.
        let mut ops = many(99);
        ops.push(nested(
            (0..29).map(|i| put(&format!("n{i}"))).collect(),
            vec![],
        ));
        assert_eq!(
            check_txn(&txn(ops, vec![]), MAX_OPS),
            Err(EtcdError::TooManyOps)
        );
    }

    #[test]
    fn empty_compare_key_and_empty_op() {
        let mut t = txn(vec![], vec![]);
        t.compare.push(Compare::default());
        assert_eq!(check_txn(&t, MAX_OPS), Err(EtcdError::EmptyKey));
        let t = txn(vec![RequestOp { request: None }], vec![]);
        assert_eq!(check_txn(&t, MAX_OPS), Err(EtcdError::KeyNotFound));
    }

    #[test]
    fn duplicate_key_rules() {
        let dup = Err(EtcdError::DuplicateKey);
        // put/put in one branch
        assert_eq!(
            check_txn(&txn(vec![put("a"), put("a")], vec![]), MAX_OPS),
            dup
        );
        // the same key in success and failure is fine
        assert_eq!(
            check_txn(&txn(vec![put("a")], vec![put("a")]), MAX_OPS),
            Ok(())
        );
        // put inside a deleted range, or of a deleted key
        assert_eq!(
            check_txn(&txn(vec![delete("a", "c"), put("b")], vec![]), MAX_OPS),
            dup
        );
        assert_eq!(
            check_txn(&txn(vec![put("a"), delete("a", "")], vec![]), MAX_OPS),
            dup
        );
        assert_eq!(
            check_txn(&txn(vec![delete("a", "c"), put("c")], vec![]), MAX_OPS),
            Ok(())
        );
        // overlapping deletes are allowed
        assert_eq!(
            check_txn(
                &txn(vec![delete("a", "c"), delete("b", "d")], vec![]),
                MAX_OPS
            ),
            Ok(())
        );
        // a delete reaches into nested Txns; a nested delete reaches back up
        assert_eq!(
            check_txn(
                &txn(
                    vec![delete("a", "z"), nested(vec![put("b")], vec![])],
                    vec![]
                ),
                MAX_OPS
            ),
            dup
        );
        assert_eq!(
            check_txn(
                &txn(
                    vec![nested(vec![delete("b", "")], vec![]), put("b")],
                    vec![]
                ),
                MAX_OPS
            ),
            dup
        );
        // nested then/else may put the same key; a sibling put of it may not
        assert_eq!(
            check_txn(
                &txn(vec![nested(vec![put("k")], vec![put("k")])], vec![]),
                MAX_OPS
            ),
            Ok(())
        );
        assert_eq!(
            check_txn(
                &txn(vec![nested(vec![put("k")], vec![]), put("k")], vec![]),
                MAX_OPS
            ),
            dup
        );
        // etcd's interval tree treats "\0" as a key, so "from key" deletes cover nothing here
        assert_eq!(
            check_txn(&txn(vec![delete("a", "\0"), put("b")], vec![]), MAX_OPS),
            Ok(())
        );
    }
}
