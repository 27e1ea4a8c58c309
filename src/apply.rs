//! The apply side of the raft core: committed entries become store writes. Each entry's
//! data is one of our `RaftRequest`s; applying it is etcd's `applierV3backend` (the KV
//! part lives in `service::kv::apply`). The entry's raft index and term are written in the
//! same store transaction as its effects, so after a crash the WAL is replayed from exactly
//! the first entry the store has not seen.

use std::sync::Arc;

use bytes::Bytes;
use prost::Message;
use raft::eraftpb::{Entry, EntryType};
use ringkv_proto::etcdserverpb::{
    AlarmMember, AlarmRequest, AlarmResponse, AlarmType, CompactionResponse, DeleteRangeResponse,
    LeaseGrantRequest, LeaseGrantResponse, LeaseRevokeRequest, LeaseRevokeResponse, PutResponse,
    ResponseHeader, TxnResponse, alarm_request,
};
use ringkv_proto::ringkvpb::{RaftRequest, raft_request};
use ringkv_store::mvcc::{Mvcc, MvccError, MvccWrite, Side};

use crate::error::EtcdError;
use crate::lease::{Lessor, MAX_LEASE_TTL};
use crate::raft::{SnapshotJob, StateMachine};
use crate::service::kv::apply::RangeView as _;
use crate::service::kv::apply::{self as kv, ApplyError};
use crate::store_jobs::StoreJobs;
use crate::watch::WatchHub;

/// The answer to one applied request, handed back to the core that proposed it.
#[derive(Debug, Clone)]
pub enum Applied {
    Put(PutResponse),
    DeleteRange(DeleteRangeResponse),
    Txn(TxnResponse),
    Compaction(CompactionResponse),
    Alarm(AlarmResponse),
    LeaseGrant(LeaseGrantResponse),
    LeaseRevoke(LeaseRevokeResponse),
}

pub type ApplyOutcome = Result<Applied, EtcdError>;

/// Applies requests to the store. Lives on the raft core; the only writer of the store.
pub struct Applier {
    mvcc: Mvcc,
    /// Deadlines follow the grants and revokes applied here.
    lessor: Arc<Lessor>,
    /// Handed every committed batch's events, for the watch streams.
    watch_hub: Arc<WatchHub>,
    /// Told of every applied compaction, to carry it out physically.
    store_jobs: StoreJobs,
    /// A NOSPACE alarm is raised: writes that add data are refused (etcd's
    /// applierV3Capped) until it is disarmed.
    nospace: bool,
}

impl Applier {
    /// Opens the applier over the store and arms every stored lease for a full TTL (as
    /// etcd does on restart).
    pub fn new(
        mvcc: Mvcc,
        lessor: Arc<Lessor>,
        watch_hub: Arc<WatchHub>,
        store_jobs: StoreJobs,
    ) -> Result<Applier, MvccError> {
        let read = mvcc.read();
        let nospace = nospace_raised(read.side_scan(Side::Alarm)?);
        for (key, value) in read.side_scan(Side::Lease)? {
            if let (Some(id), Some(ttl)) = (decode_i64(&key), decode_i64(&value)) {
                lessor.granted(id, ttl);
            }
        }
        Ok(Applier {
            mvcc,
            lessor,
            watch_hub,
            store_jobs,
            nospace,
        })
    }

    pub fn mvcc(&self) -> &Mvcc {
        &self.mvcc
    }

    /// Raft index of the last entry whose effects are in the store.
    pub fn applied_index(&self) -> u64 {
        self.mvcc.read().consistent_index().0
    }

    /// Applies a batch of committed entries in one store transaction, recording the last
    /// entry's (index, term). A client error is that request's answer and still consumes
    /// its index; a store error is fatal to the member, as in etcd.
    ///
    /// `durable` is the WAL's sync (see [`StateMachine::apply_once_durable`]). A batch of
    /// key-value requests is prepared in the transaction first and committed after it: the
    /// commit publishes the new revision to readers and watchers, so nothing is seen
    /// before it is durable. Leases and alarms take effect outside the transaction (the
    /// lessor's deadlines, the NOSPACE flag), so a batch holding one waits for the sync
    /// before anything is applied. `Ok(None)`: the sync failed and nothing was applied.
    pub fn apply_batch(
        &mut self,
        entries: &[Entry],
        durable: &mut dyn FnMut() -> bool,
    ) -> Result<Option<Vec<Option<ApplyOutcome>>>, MvccError> {
        let Some(last) = entries.last() else {
            return Ok(durable().then(Vec::new));
        };
        let requests: Vec<Option<RaftRequest>> = entries.iter().map(decode_entry).collect();
        let kv_only = requests.iter().flatten().all(|r| {
            use raft_request::Request;
            matches!(
                r.request,
                Some(Request::Put(_) | Request::DeleteRange(_) | Request::Txn(_))
            )
        });
        if !kv_only && !durable() {
            return Ok(None);
        }
        let mut w = self.mvcc.write()?;
        let before = w.revision();
        let mut outcomes = Vec::with_capacity(entries.len());
        let mut compacted = false;
        for request in requests {
            let Some(request) = request else {
                outcomes.push(None);
                continue;
            };
            let outcome = match apply_request(&mut w, request, &mut self.nospace, &self.lessor) {
                Ok(applied) => {
                    compacted |= matches!(applied, Applied::Compaction(_));
                    Some(Ok(applied))
                }
                Err(ApplyError::Client(e)) => Some(Err(e)),
                Err(ApplyError::Store(e)) => return Err(e),
            };
            w.end_request();
            outcomes.push(outcome);
        }
        w.set_consistent_index(last.index, last.term);
        // The pages are written while the WAL's sync runs; a store that changed nothing
        // does not ask, so ask again (it waits only once).
        let Some(committed) = w.commit_gated(durable)? else {
            return Ok(None);
        };
        if !durable() {
            return Ok(None);
        }
        self.watch_hub
            .publish(before, committed.revision, committed.events);
        if compacted {
            self.store_jobs.compacted();
        }
        Ok(Some(outcomes))
    }
}

/// The request an entry carries; `None` for entries that carry none: conf changes (raft's
/// own, already applied to its configuration), the empty entries a new leader appends, and
/// an entry that does not decode (only our own proposals reach the log, so that is a bug,
/// not client input: it is skipped rather than wedge the member).
fn decode_entry(entry: &Entry) -> Option<RaftRequest> {
    if entry.get_entry_type() != EntryType::EntryNormal || entry.data.is_empty() {
        return None;
    }
    RaftRequest::decode(&entry.data[..])
        .inspect_err(|e| {
            tracing::error!(index = entry.index, error = %e, "undecodable raft request; skipped");
        })
        .ok()
}

impl StateMachine for Applier {
    type Output = ApplyOutcome;

    fn apply(&mut self, entries: &[Entry]) -> Vec<Option<ApplyOutcome>> {
        self.apply_once_durable(entries, &mut || true)
            .unwrap_or_default()
    }

    fn apply_once_durable(
        &mut self,
        entries: &[Entry],
        durable: &mut dyn FnMut() -> bool,
    ) -> Option<Vec<Option<ApplyOutcome>>> {
        match self.apply_batch(entries, durable) {
            Ok(outcomes) => outcomes,
            Err(e) => fatal(&e),
        }
    }

    fn applied_index(&self) -> u64 {
        Applier::applied_index(self)
    }

    /// The store file is the state of a single member; make it durable so the WAL up to
    /// the applied index may be purged.
    fn snapshot(&mut self) -> Bytes {
        if let Err(e) = self.mvcc.checkpoint() {
            fatal(&e);
        }
        Bytes::new()
    }

    /// The checkpoint's pages are written here; its fsyncs and meta (tens of milliseconds
    /// with a large dirty set) run on the snapshot thread while applying goes on.
    fn begin_snapshot(&mut self) -> SnapshotJob {
        match self.mvcc.begin_checkpoint() {
            Ok(checkpoint) => SnapshotJob::Pending(Box::new(move || {
                if let Err(e) = checkpoint.finish() {
                    fatal(&e.into());
                }
                Bytes::new()
            })),
            Err(e) => fatal(&e),
        }
    }
}

/// raft has committed entries the store cannot hold: continuing would diverge from the
/// log, so the member stops (etcd panics here). Restarting replays them from the WAL.
fn fatal(e: &MvccError) -> ! {
    tracing::error!(error = %e, "cannot write committed entries to the store; stopping");
    std::process::exit(1)
}

fn apply_request(
    w: &mut MvccWrite<'_>,
    request: RaftRequest,
    nospace: &mut bool,
    lessor: &Lessor,
) -> Result<Applied, ApplyError> {
    use raft_request::Request;
    if *nospace && adds_data(&request) {
        return Err(EtcdError::NoSpace.into());
    }
    match request.request {
        Some(Request::Put(p)) => Ok(Applied::Put(kv::put(w, &p)?)),
        Some(Request::DeleteRange(d)) => Ok(Applied::DeleteRange(kv::delete_range(w, &d)?)),
        Some(Request::Txn(t)) => {
            let plan = kv::txn(&*w, &t)?;
            Ok(Applied::Txn(plan.execute(w, &t)?))
        }
        Some(Request::Compaction(c)) => Ok(Applied::Compaction(kv::compact(w, &c)?)),
        Some(Request::Alarm(a)) => {
            let resp = apply_alarm(w, &a)?;
            *nospace = nospace_raised(w.side_scan(Side::Alarm)?);
            Ok(Applied::Alarm(resp))
        }
        Some(Request::LeaseGrant(g)) => Ok(Applied::LeaseGrant(lease_grant(w, &g, lessor)?)),
        Some(Request::LeaseRevoke(r)) => Ok(Applied::LeaseRevoke(lease_revoke(w, &r, lessor)?)),
        None => Err(ApplyError::Client(EtcdError::KeyNotFound)),
    }
}

fn decode_i64(bytes: &[u8]) -> Option<i64> {
    Some(i64::from_be_bytes(bytes.try_into().ok()?))
}

/// etcd's lessor.Grant: ID 0 is refused (the proposer picks one), TTLs above 9e9 s are
/// refused, shorter than the minimum are raised to it, an existing ID is refused.
fn lease_grant(
    w: &mut MvccWrite<'_>,
    g: &LeaseGrantRequest,
    lessor: &Lessor,
) -> Result<LeaseGrantResponse, ApplyError> {
    if g.id == 0 {
        return Err(EtcdError::LeaseNotFound.into());
    }
    if g.ttl > MAX_LEASE_TTL {
        return Err(EtcdError::LeaseTtlTooLarge.into());
    }
    if w.lease_exists(g.id)? {
        return Err(EtcdError::LeaseExist.into());
    }
    let ttl = g.ttl.max(lessor.min_ttl());
    w.side_put(Side::Lease, &kv::lease_key(g.id), &ttl.to_be_bytes())?;
    lessor.granted(g.id, ttl);
    Ok(LeaseGrantResponse {
        header: Some(ResponseHeader {
            revision: w.revision(),
            ..ResponseHeader::default()
        }),
        id: g.id,
        ttl,
        ..LeaseGrantResponse::default()
    })
}

/// etcd's lessor.Revoke: every attached key is deleted in one revision, then the lease.
fn lease_revoke(
    w: &mut MvccWrite<'_>,
    r: &LeaseRevokeRequest,
    lessor: &Lessor,
) -> Result<LeaseRevokeResponse, ApplyError> {
    if !w.side_delete(Side::Lease, &kv::lease_key(r.id))? {
        return Err(EtcdError::LeaseNotFound.into());
    }
    for key in w.lease_keys(r.id)? {
        w.delete_range(&key, &[])?;
    }
    lessor.revoked(r.id);
    Ok(LeaseRevokeResponse {
        header: Some(ResponseHeader {
            revision: w.revision(),
            ..ResponseHeader::default()
        }),
    })
}

/// What NOSPACE refuses: puts and Txns with a put (etcd: a quota cost above 0).
fn adds_data(request: &RaftRequest) -> bool {
    use raft_request::Request;
    match &request.request {
        Some(Request::Put(_)) | Some(Request::LeaseGrant(_)) => true,
        Some(Request::Txn(t)) => crate::service::kv::txn_put_cost(t) > 0,
        _ => false,
    }
}

fn nospace_raised(alarms_table: Vec<(Vec<u8>, Vec<u8>)>) -> bool {
    !alarms(alarms_table, AlarmType::Nospace as i32).is_empty()
}

/// The alarm side table: key = member ID (8 bytes BE) ++ alarm type (4 bytes BE).
fn alarm_key(member: u64, alarm: i32) -> [u8; 12] {
    let mut key = [0u8; 12];
    key[..8].copy_from_slice(&member.to_be_bytes());
    key[8..].copy_from_slice(&alarm.to_be_bytes());
    key
}

fn decode_alarm_key(key: &[u8]) -> Option<AlarmMember> {
    let member = u64::from_be_bytes(key.get(..8)?.try_into().ok()?);
    let alarm = i32::from_be_bytes(key.get(8..12)?.try_into().ok()?);
    Some(AlarmMember {
        member_id: member,
        alarm,
    })
}

/// Every raised alarm, read from a committed snapshot or an open write.
pub fn alarms(entries: Vec<(Vec<u8>, Vec<u8>)>, only: i32) -> Vec<AlarmMember> {
    entries
        .iter()
        .filter_map(|(k, _)| decode_alarm_key(k))
        .filter(|a| only == 0 || a.alarm == only)
        .collect()
}

/// etcd's applyAlarm: GET lists (all types for NONE), ACTIVATE/DEACTIVATE answer with the
/// alarm they changed, or nothing if it was already in that state.
fn apply_alarm(w: &mut MvccWrite<'_>, a: &AlarmRequest) -> Result<AlarmResponse, ApplyError> {
    use alarm_request::AlarmAction;
    let mut resp = AlarmResponse::default();
    let key = alarm_key(a.member_id, a.alarm);
    match AlarmAction::try_from(a.action) {
        Ok(AlarmAction::Get) => {
            resp.alarms = alarms(w.side_scan(Side::Alarm)?, a.alarm);
        }
        Ok(AlarmAction::Activate) => {
            if a.alarm != 0 && w.side_get(Side::Alarm, &key)?.is_none() {
                w.side_put(Side::Alarm, &key, &[])?;
                resp.alarms.push(AlarmMember {
                    member_id: a.member_id,
                    alarm: a.alarm,
                });
            }
        }
        Ok(AlarmAction::Deactivate) => {
            if w.side_delete(Side::Alarm, &key)? {
                resp.alarms.push(AlarmMember {
                    member_id: a.member_id,
                    alarm: a.alarm,
                });
            }
        }
        Err(_) => {}
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store_jobs::CompactionPace;
    use ringkv_proto::etcdserverpb::{
        CompactionRequest, Compare, PutRequest, RangeRequest, RequestOp, TxnRequest, compare,
        request_op,
    };

    struct Harness {
        _dir: tempfile::TempDir,
        applier: Applier,
        index: u64,
    }

    impl Harness {
        fn new() -> Harness {
            let dir = tempfile::tempdir().unwrap();
            let mvcc = Mvcc::open(dir.path().join("db")).unwrap();
            let jobs = StoreJobs::start(mvcc.clone(), CompactionPace::default()).unwrap();
            Harness {
                _dir: dir,
                applier: Applier::new(mvcc, Arc::new(Lessor::new(1, 2)), Arc::default(), jobs)
                    .unwrap(),
                index: 0,
            }
        }

        fn entry(&mut self, request: raft_request::Request) -> Entry {
            self.index += 1;
            let data = RaftRequest {
                request: Some(request),
            }
            .encode_to_vec();
            Entry {
                index: self.index,
                term: 2,
                data: data.into(),
                ..Entry::default()
            }
        }

        fn apply(&mut self, request: raft_request::Request) -> ApplyOutcome {
            let entry = self.entry(request);
            let mut outcomes = self
                .applier
                .apply_batch(&[entry], &mut || true)
                .unwrap()
                .unwrap();
            outcomes.pop().flatten().unwrap()
        }

        fn put(&mut self, key: &str, value: &str) -> PutResponse {
            match self.apply(raft_request::Request::Put(PutRequest {
                key: key.to_owned().into(),
                value: value.to_owned().into(),
                prev_kv: true,
                ..PutRequest::default()
            })) {
                Ok(Applied::Put(p)) => p,
                other => panic!("{other:?}"),
            }
        }

        fn get(&self, key: &str, revision: i64) -> Result<Vec<(String, i64)>, EtcdError> {
            let r = RangeRequest {
                key: key.to_owned().into(),
                revision,
                ..RangeRequest::default()
            };
            match kv::range(&self.applier.mvcc().read(), &r) {
                Ok(resp) => Ok(resp
                    .kvs
                    .iter()
                    .map(|kv| (String::from_utf8_lossy(&kv.value).into_owned(), kv.version))
                    .collect()),
                Err(ApplyError::Client(e)) => Err(e),
                Err(e) => panic!("{e}"),
            }
        }
    }

    #[test]
    fn puts_make_revisions_and_versions_and_record_the_index() {
        let mut h = Harness::new();
        let first = h.put("a", "1");
        assert_eq!(first.header.unwrap().revision, 2);
        assert!(first.prev_kv.is_none());
        let second = h.put("a", "2");
        assert_eq!(second.header.unwrap().revision, 3);
        assert_eq!(second.prev_kv.unwrap().value, "1");
        assert_eq!(h.get("a", 0).unwrap(), vec![("2".into(), 2)]);
        assert_eq!(h.get("a", 2).unwrap(), vec![("1".into(), 1)]);
        assert_eq!(h.applier.applied_index(), 2);
    }

    #[test]
    fn txn_takes_the_branch_its_compares_choose() {
        let mut h = Harness::new();
        h.put("k", "v1");
        let txn = |expect: &str| TxnRequest {
            compare: vec![Compare {
                key: "k".into(),
                target: compare::CompareTarget::Value as i32,
                result: compare::CompareResult::Equal as i32,
                target_union: Some(compare::TargetUnion::Value(expect.to_owned().into())),
                ..Compare::default()
            }],
            success: vec![RequestOp {
                request: Some(request_op::Request::RequestPut(PutRequest {
                    key: "k".into(),
                    value: "won".into(),
                    ..PutRequest::default()
                })),
            }],
            failure: vec![RequestOp {
                request: Some(request_op::Request::RequestRange(RangeRequest {
                    key: "k".into(),
                    ..RangeRequest::default()
                })),
            }],
        };
        let Ok(Applied::Txn(lost)) = h.apply(raft_request::Request::Txn(txn("nope"))) else {
            panic!("txn failed");
        };
        assert!(!lost.succeeded);
        assert_eq!(
            lost.header.unwrap().revision,
            2,
            "a read-only branch makes no revision"
        );
        let Ok(Applied::Txn(won)) = h.apply(raft_request::Request::Txn(txn("v1"))) else {
            panic!("txn failed");
        };
        assert!(won.succeeded);
        assert_eq!(won.header.unwrap().revision, 3);
        assert_eq!(h.get("k", 0).unwrap(), vec![("won".into(), 2)]);
    }

    #[test]
    fn compaction_makes_old_revisions_unreadable() {
        let mut h = Harness::new();
        h.put("a", "1");
        h.put("a", "2");
        h.put("a", "3");
        let Ok(Applied::Compaction(_)) =
            h.apply(raft_request::Request::Compaction(CompactionRequest {
                revision: 3,
                physical: false,
            }))
        else {
            panic!("compaction failed");
        };
        assert_eq!(h.get("a", 2), Err(EtcdError::Compacted));
        assert_eq!(h.get("a", 9), Err(EtcdError::FutureRev));
        assert_eq!(h.get("a", 3).unwrap(), vec![("2".into(), 2)]);
        let again = h.apply(raft_request::Request::Compaction(CompactionRequest {
            revision: 3,
            physical: false,
        }));
        assert!(matches!(again, Err(EtcdError::Compacted)));
    }

    #[test]
    fn put_with_ignore_value_needs_the_key() {
        let mut h = Harness::new();
        let outcome = h.apply(raft_request::Request::Put(PutRequest {
            key: "missing".into(),
            ignore_value: true,
            ..PutRequest::default()
        }));
        assert!(matches!(outcome, Err(EtcdError::KeyNotFound)));
        assert_eq!(
            h.applier.applied_index(),
            1,
            "a refused request still consumes its index"
        );
    }

    #[test]
    fn a_raised_nospace_alarm_refuses_puts_until_disarmed() {
        use ringkv_proto::etcdserverpb::DeleteRangeRequest;
        let mut h = Harness::new();
        h.put("a", "1");
        let alarm = |action: alarm_request::AlarmAction| {
            raft_request::Request::Alarm(AlarmRequest {
                action: action as i32,
                member_id: 7,
                alarm: AlarmType::Nospace as i32,
            })
        };
        let raised = h.apply(alarm(alarm_request::AlarmAction::Activate));
        assert!(matches!(raised, Ok(Applied::Alarm(a)) if a.alarms.len() == 1));
        let put = |key: &str| {
            raft_request::Request::Put(PutRequest {
                key: key.to_owned().into(),
                value: "v".into(),
                ..PutRequest::default()
            })
        };
        assert!(matches!(h.apply(put("b")), Err(EtcdError::NoSpace)));
        let deleted = h.apply(raft_request::Request::DeleteRange(DeleteRangeRequest {
            key: "a".into(),
            ..DeleteRangeRequest::default()
        }));
        assert!(matches!(deleted, Ok(Applied::DeleteRange(d)) if d.deleted == 1));
        // The alarm is in the store: a restarted applier still refuses.
        let restarted = Applier::new(
            h.applier.mvcc().clone(),
            Arc::new(Lessor::new(1, 2)),
            Arc::default(),
            h.applier.store_jobs.clone(),
        )
        .unwrap();
        assert!(restarted.nospace);
        h.apply(alarm(alarm_request::AlarmAction::Deactivate))
            .unwrap();
        assert!(matches!(h.apply(put("b")), Ok(Applied::Put(_))));
    }

    #[test]
    fn lease_revoke_deletes_attached_keys_in_one_revision() {
        let mut h = Harness::new();
        let grant =
            |id: i64, ttl: i64| raft_request::Request::LeaseGrant(LeaseGrantRequest { id, ttl });
        let Ok(Applied::LeaseGrant(g)) = h.apply(grant(5, 1)) else {
            panic!("grant failed");
        };
        assert_eq!(g.ttl, 2, "raised to the minimum TTL");
        assert!(matches!(h.apply(grant(5, 10)), Err(EtcdError::LeaseExist)));
        assert!(matches!(
            h.apply(grant(6, MAX_LEASE_TTL + 1)),
            Err(EtcdError::LeaseTtlTooLarge)
        ));
        for key in ["a", "b"] {
            h.apply(raft_request::Request::Put(PutRequest {
                key: key.to_owned().into(),
                value: "v".into(),
                lease: 5,
                ..PutRequest::default()
            }))
            .unwrap();
        }
        let revoke = raft_request::Request::LeaseRevoke(LeaseRevokeRequest { id: 5 });
        let Ok(Applied::LeaseRevoke(r)) = h.apply(revoke.clone()) else {
            panic!("revoke failed");
        };
        assert_eq!(
            r.header.unwrap().revision,
            4,
            "both deletes in one revision"
        );
        assert_eq!(h.get("a", 0).unwrap(), vec![]);
        assert!(matches!(h.apply(revoke), Err(EtcdError::LeaseNotFound)));
    }

    fn value_of(mvcc: &Mvcc, key: &str) -> Option<Vec<u8>> {
        let r = RangeRequest {
            key: key.to_owned().into(),
            ..RangeRequest::default()
        };
        let resp = kv::range(&mvcc.read(), &r).unwrap();
        resp.kvs.into_iter().next().map(|kv| kv.value.to_vec())
    }

    fn put_request(key: &str, value: &str) -> raft_request::Request {
        raft_request::Request::Put(PutRequest {
            key: key.to_owned().into(),
            value: value.to_owned().into(),
            ..PutRequest::default()
        })
    }

    #[test]
    fn a_key_value_batch_is_seen_only_once_it_is_durable() {
        let mut h = Harness::new();
        h.put("a", "1");
        let mvcc = h.applier.mvcc().clone();
        let entry = h.entry(put_request("a", "2"));
        let mut asked = 0;
        let outcomes = h
            .applier
            .apply_batch(&[entry], &mut || {
                // The first ask waits for the sync; later ones repeat its answer.
                asked += 1;
                if asked == 1 {
                    assert_eq!(value_of(&mvcc, "a").as_deref(), Some(&b"1"[..]));
                }
                true
            })
            .unwrap()
            .expect("durable");
        assert!(asked >= 1);
        assert!(matches!(outcomes.as_slice(), [Some(Ok(Applied::Put(_)))]));
        assert_eq!(value_of(&mvcc, "a").as_deref(), Some(&b"2"[..]));
        assert_eq!(h.applier.applied_index(), 2);

        // A sync that failed: nothing of the batch is applied.
        let entry = h.entry(put_request("a", "3"));
        assert!(
            h.applier
                .apply_batch(&[entry], &mut || false)
                .unwrap()
                .is_none()
        );
        assert_eq!(value_of(&mvcc, "a").as_deref(), Some(&b"2"[..]));
        assert_eq!(h.applier.applied_index(), 2);
    }

    #[test]
    fn a_batch_with_a_lease_waits_for_durability_before_applying_anything() {
        let mut h = Harness::new();
        let lessor = h.applier.lessor.clone();
        let mvcc = h.applier.mvcc().clone();
        let grant = h.entry(raft_request::Request::LeaseGrant(LeaseGrantRequest {
            id: 7,
            ttl: 60,
        }));
        let put = h.entry(put_request("a", "1"));
        assert!(
            h.applier
                .apply_batch(&[grant.clone(), put.clone()], &mut || false)
                .unwrap()
                .is_none()
        );
        assert_eq!(lessor.time_to_live(7), None);
        assert_eq!(value_of(&mvcc, "a"), None);

        let mut asked = 0;
        let outcomes = h
            .applier
            .apply_batch(&[grant, put], &mut || {
                asked += 1;
                if asked == 1 {
                    assert_eq!(lessor.time_to_live(7), None);
                    assert_eq!(value_of(&mvcc, "a"), None);
                }
                true
            })
            .unwrap()
            .expect("durable");
        assert!(matches!(
            outcomes.as_slice(),
            [Some(Ok(Applied::LeaseGrant(_))), Some(Ok(Applied::Put(_)))]
        ));
        assert!(lessor.time_to_live(7).is_some());
        assert_eq!(value_of(&mvcc, "a").as_deref(), Some(&b"1"[..]));
    }
}
