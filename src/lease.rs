//! The lessor: every lease's deadline, in memory, shared by all cores. The store holds what
//! is replicated (each lease's granted TTL and its attached keys); deadlines are local
//! state of the leader, as in etcd: they are armed when a grant is applied, re-armed to the
//! full TTL on restart, pushed back by keepalives (from any core, without a hop to the raft
//! core), and an expiry task on the raft core revokes what has run out — through raft.
//!
//! Deadlines sit in a min-heap with lazy deletion (a renewed lease leaves its old entry
//! behind, skipped when popped), so finding what expired never scans every lease.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// etcd's MaxLeaseTTL (seconds).
pub const MAX_LEASE_TTL: i64 = 9_000_000_000;
/// How long an expired lease waits before its revoke is tried again (etcd's
/// expiredLeaseRetryInterval): the first revoke may still be on its way through raft.
const EXPIRED_RETRY: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, Copy)]
struct Lease {
    ttl: i64,
    expiry: Instant,
    /// Set once handed out as expired: when to hand it out again.
    retry_at: Option<Instant>,
}

#[derive(Default)]
struct Table {
    leases: HashMap<i64, Lease>,
    deadlines: BinaryHeap<Reverse<(Instant, i64)>>,
}

impl Table {
    fn arm(&mut self, id: i64, ttl: i64, expiry: Instant) {
        self.leases.insert(
            id,
            Lease {
                ttl,
                expiry,
                retry_at: None,
            },
        );
        self.deadlines.push(Reverse((expiry, id)));
    }
}

pub struct Lessor {
    table: Mutex<Table>,
    min_ttl: i64,
    /// etcd's idutil.Generator: member bits, then milliseconds at start, then a counter.
    id_prefix: u64,
    id_suffix: AtomicU64,
}

fn seconds(ttl: i64) -> Duration {
    Duration::from_secs(u64::try_from(ttl).unwrap_or(0))
}

impl Lessor {
    /// `min_ttl` in seconds: etcd's ceil(1.5 × election timeout).
    pub fn new(member_id: u64, min_ttl: i64) -> Lessor {
        let millis = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Lessor {
            table: Mutex::new(Table::default()),
            min_ttl,
            id_prefix: (member_id & 0xFFFF) << 48,
            id_suffix: AtomicU64::new((millis & ((1 << 40) - 1)) << 8),
        }
    }

    /// etcd's minimum lease TTL for an election timeout: ceil(1.5 × it) in seconds.
    pub fn min_ttl_for(election_timeout: Duration) -> i64 {
        let millis = election_timeout.as_millis() as i64 * 3 / 2;
        (millis + 999) / 1000
    }

    pub fn min_ttl(&self) -> i64 {
        self.min_ttl
    }

    /// A fresh lease ID in etcd's format (positive, never 0).
    pub fn next_id(&self) -> i64 {
        loop {
            let suffix = self.id_suffix.fetch_add(1, Ordering::Relaxed) + 1;
            let id = (self.id_prefix | (suffix & ((1 << 48) - 1))) & (i64::MAX as u64);
            if id != 0 {
                return id as i64;
            }
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        // A panic while holding the lock leaves plain data behind; keep using it.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A grant was applied (or found in the store at start): its deadline is a full TTL
    /// from now.
    pub fn granted(&self, id: i64, ttl: i64) {
        self.table().arm(id, ttl, Instant::now() + seconds(ttl));
    }

    pub fn revoked(&self, id: i64) {
        self.table().leases.remove(&id);
    }

    /// A keepalive: pushes the deadline a full TTL out and returns the TTL, or `None` for
    /// a lease that does not exist (or has expired and awaits its revoke).
    pub fn renew(&self, id: i64) -> Option<i64> {
        let now = Instant::now();
        let mut table = self.table();
        let lease = *table.leases.get(&id)?;
        if lease.expiry <= now {
            return None;
        }
        table.arm(id, lease.ttl, now + seconds(lease.ttl));
        Some(lease.ttl)
    }

    /// (granted TTL, whole seconds left) of a live lease.
    pub fn time_to_live(&self, id: i64) -> Option<(i64, i64)> {
        let lease = *self.table().leases.get(&id)?;
        let left = lease.expiry.saturating_duration_since(Instant::now());
        Some((lease.ttl, left.as_secs() as i64))
    }

    /// Every live lease, soonest deadline first (etcd's Leases order).
    pub fn leases(&self) -> Vec<i64> {
        let mut all: Vec<(Instant, i64)> = self
            .table()
            .leases
            .iter()
            .map(|(&id, lease)| (lease.expiry, id))
            .collect();
        // Sorted after the lock is released: keepalives on other cores need it meanwhile.
        all.sort_unstable();
        all.into_iter().map(|(_, id)| id).collect()
    }

    /// Up to `max` leases whose deadline has passed. Each is given a short retry deadline,
    /// so it is handed out again only if its revoke did not happen.
    pub fn expired(&self, max: usize) -> Vec<i64> {
        let now = Instant::now();
        let mut table = self.table();
        let mut out = Vec::new();
        while out.len() < max {
            let Some(&Reverse((deadline, id))) = table.deadlines.peek() else {
                break;
            };
            if deadline > now {
                break;
            }
            table.deadlines.pop();
            // Skip entries a renewal or a revoke made stale.
            let Some(lease) = table.leases.get_mut(&id) else {
                continue;
            };
            let current = lease.retry_at.unwrap_or(lease.expiry);
            if lease.expiry > now || current != deadline {
                continue;
            }
            let retry = now + EXPIRED_RETRY;
            lease.retry_at = Some(retry);
            table.deadlines.push(Reverse((retry, id)));
            out.push(id);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_ttl_is_etcds() {
        assert_eq!(Lessor::min_ttl_for(Duration::from_millis(1000)), 2);
        assert_eq!(Lessor::min_ttl_for(Duration::from_millis(2000)), 3);
    }

    #[test]
    fn ids_are_positive_and_distinct() {
        let l = Lessor::new(u64::MAX, 2);
        let a = l.next_id();
        let b = l.next_id();
        assert!(a > 0 && b > 0 && a != b);
        assert_eq!((a as u64) >> 48, 0x7FFF, "member bits, top bit cleared");
    }

    #[test]
    fn expiry_skips_renewed_and_revoked_leases() {
        let l = Lessor::new(1, 1);
        l.granted(1, 0); // expires at once
        l.granted(2, 0);
        l.granted(3, 100);
        l.revoked(2);
        assert_eq!(l.expired(10), vec![1]);
        assert!(
            l.expired(10).is_empty(),
            "handed out once per retry interval"
        );
        assert_eq!(l.renew(3), Some(100));
        assert_eq!(l.renew(1), None, "expired, awaiting its revoke");
        assert_eq!(l.renew(9), None);
        assert_eq!(l.time_to_live(3).map(|(ttl, _)| ttl), Some(100));
        assert!(l.time_to_live(2).is_none());
        assert_eq!(l.leases(), vec![1, 3]);
    }
}
