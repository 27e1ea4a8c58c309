//! `--auto-compaction-mode` and `--auto-compaction-retention`: etcd's compactor. It proposes a
//! Compaction through raft as a client would, so every member compacts at the same revision.
//!
//! - **periodic**: every `retention / 10` (at most every 6 minutes) the current revision is
//!   noted; once `retention` has passed since the last compaction (at most an hour, after the
//!   first), the store is compacted to the revision noted `retention` ago.
//! - **revision**: every 5 minutes the store is compacted to `current - retention`.
//!
//! The decisions are plain functions of clock readings and revisions ([`Schedule::note`],
//! [`Schedule::due`]), tested without waiting; the task only sleeps and proposes.

use std::collections::VecDeque;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ringkv_proto::etcdserverpb::CompactionRequest;
use ringkv_proto::ringkvpb::{RaftRequest, raft_request::Request};

use crate::error::EtcdError;
use crate::service::Context;

/// What `--auto-compaction-mode` and `--auto-compaction-retention` ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoCompaction {
    /// Keep this much time of history.
    Periodic(Duration),
    /// Keep this many revisions of history.
    Revision(i64),
}

/// How often revision mode compacts (etcd's `revInterval`).
const REVISION_MODE_INTERVAL: Duration = Duration::from_secs(5 * 60);
const HOUR: Duration = Duration::from_secs(3600);

impl AutoCompaction {
    /// etcd's `parseCompactionRetention`: a plain integer is hours (periodic) or revisions
    /// (revision); anything else must be a duration (in revision mode, Go then counts its
    /// nanoseconds as revisions, and so do we). `None` when retention is 0: disabled.
    pub fn parse(mode: &str, retention: &str) -> Result<Option<AutoCompaction>, String> {
        let revision_mode = mode == "revision";
        let parsed = match retention.parse::<i64>() {
            Ok(n) if n >= 0 => {
                if revision_mode {
                    AutoCompaction::Revision(n)
                } else {
                    AutoCompaction::Periodic(HOUR * u32::try_from(n).unwrap_or(u32::MAX))
                }
            }
            _ => {
                let d = crate::config::values::parse_duration(retention)
                    .map_err(|_| format!("time: invalid duration \"{retention}\""))?;
                if revision_mode {
                    AutoCompaction::Revision(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
                } else {
                    AutoCompaction::Periodic(d)
                }
            }
        };
        Ok(match parsed {
            AutoCompaction::Periodic(d) if d.is_zero() => None,
            AutoCompaction::Revision(0) => None,
            enabled => Some(enabled),
        })
    }
}

/// When to compact, and to which revision.
#[derive(Debug)]
pub struct Schedule {
    mode: AutoCompaction,
    /// Periodic: revisions noted once per tick, oldest first, `retention` worth of them.
    noted: VecDeque<i64>,
    last_success: Instant,
    /// Periodic: the wait before the next compaction (the whole retention before the first).
    wait: Duration,
    /// Revision mode: the revision last compacted to.
    last_target: i64,
}

impl Schedule {
    pub fn new(mode: AutoCompaction, now: Instant) -> Schedule {
        let wait = match mode {
            AutoCompaction::Periodic(retention) => retention,
            AutoCompaction::Revision(_) => REVISION_MODE_INTERVAL,
        };
        Schedule {
            mode,
            noted: VecDeque::new(),
            last_success: now,
            wait,
            last_target: 0,
        }
    }

    /// How long to sleep between a [`Schedule::note`] and the next [`Schedule::due`].
    pub fn tick(&self) -> Duration {
        match self.mode {
            AutoCompaction::Periodic(retention) => retention.min(HOUR) / 10,
            AutoCompaction::Revision(_) => REVISION_MODE_INTERVAL,
        }
    }

    /// Before each sleep: periodic mode notes the current revision, keeping one retention's
    /// worth of notes (one per tick), so the oldest is a retention old.
    pub fn note(&mut self, current: i64) {
        if let AutoCompaction::Periodic(retention) = self.mode {
            let keep = (retention.as_nanos() / self.tick().as_nanos().max(1)) as usize + 1;
            self.noted.push_back(current);
            while self.noted.len() > keep {
                self.noted.pop_front();
            }
        }
    }

    /// After each sleep: the revision to compact to now, if any.
    pub fn due(&mut self, now: Instant, current: i64) -> Option<i64> {
        match self.mode {
            AutoCompaction::Periodic(retention) => {
                if now.duration_since(self.last_success) < self.wait {
                    return None;
                }
                // After the first compaction, at least hourly however long the retention.
                self.wait = retention.min(HOUR);
                self.noted.front().copied()
            }
            AutoCompaction::Revision(retention) => {
                let target = current - retention;
                (target > 0 && target != self.last_target).then_some(target)
            }
        }
    }

    /// The compaction to `target` was applied, or the store was already compacted past it.
    pub fn compacted(&mut self, now: Instant, target: i64) {
        self.last_success = now;
        self.last_target = target;
    }
}

/// The compactor, a task on the raft core until the node stops. As etcd's, it only
/// compacts while this member leads.
pub async fn run(ctx: Rc<Context>, mode: AutoCompaction) {
    let mut schedule = Schedule::new(mode, Instant::now());
    loop {
        schedule.note(ctx.mvcc.read().revision());
        glommio::timer::sleep(schedule.tick()).await;
        if ctx.node.stopped() {
            return;
        }
        if ctx.node.status().leader != ctx.identity.member_id {
            continue;
        }
        let Some(target) = schedule.due(Instant::now(), ctx.mvcc.read().revision()) else {
            continue;
        };
        tracing::info!(revision = target, ?mode, "starting auto compaction");
        let request = RaftRequest {
            request: Some(Request::Compaction(CompactionRequest {
                revision: target,
                physical: false,
            })),
        };
        match ctx
            .node
            .propose(request, ctx.limits.max_request_bytes)
            .await
        {
            Ok(_) | Err(EtcdError::Compacted) => {
                schedule.compacted(Instant::now(), target);
                tracing::info!(revision = target, "completed auto compaction");
            }
            Err(e) => tracing::warn!(
                revision = target,
                error = %e,
                retry_in = ?schedule.tick(),
                "auto compaction failed"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_parses_as_etcd() {
        let parse = AutoCompaction::parse;
        assert_eq!(
            parse("periodic", "1"),
            Ok(Some(AutoCompaction::Periodic(HOUR)))
        );
        assert_eq!(
            parse("periodic", "90s"),
            Ok(Some(AutoCompaction::Periodic(Duration::from_secs(90))))
        );
        assert_eq!(
            parse("revision", "1000"),
            Ok(Some(AutoCompaction::Revision(1000)))
        );
        assert_eq!(parse("periodic", "0"), Ok(None));
        assert_eq!(parse("revision", "0"), Ok(None));
        assert_eq!(
            parse("periodic", "abc"),
            Err("time: invalid duration \"abc\"".into())
        );
    }

    /// Runs a schedule as the thread does, with revision `1 + seconds since start`;
    /// returns (second, target) for each compaction, every one succeeding.
    fn run_periodic(retention: Duration, until: Duration) -> Vec<(u64, i64)> {
        let start = Instant::now();
        let rev = |t: Duration| 1 + t.as_secs() as i64;
        let mut s = Schedule::new(AutoCompaction::Periodic(retention), start);
        let (mut t, mut done) = (Duration::ZERO, Vec::new());
        while t < until {
            s.note(rev(t));
            t += s.tick();
            if let Some(target) = s.due(start + t, rev(t)) {
                s.compacted(start + t, target);
                done.push((t.as_secs(), target));
            }
        }
        done
    }

    #[test]
    fn periodic_compacts_to_the_revision_noted_a_retention_ago() {
        let retention = Duration::from_secs(100);
        assert_eq!(
            Schedule::new(AutoCompaction::Periodic(retention), Instant::now()).tick(),
            Duration::from_secs(10)
        );
        // First after one retention, to the revision at the start; then once per retention,
        // to the oldest note, a retention (plus a tick) old.
        assert_eq!(
            run_periodic(retention, Duration::from_secs(300)),
            vec![(100, 1), (200, 91), (300, 191)]
        );
    }

    #[test]
    fn periodic_retention_beyond_an_hour_compacts_hourly() {
        let hours = |h: u64| h * 3600;
        let done = run_periodic(HOUR * 10, HOUR * 12);
        assert_eq!(done.len(), 3, "{done:?}");
        assert_eq!(done[0], (hours(10), 1));
        assert_eq!(done[1].0, hours(11));
        assert_eq!(done[2].0, hours(12));
        // Each keeps about ten hours of history.
        assert!((done[1].1 - 1 - hours(1) as i64).abs() <= 360, "{done:?}");
    }

    #[test]
    fn revision_mode_keeps_the_last_n_revisions() {
        let start = Instant::now();
        let mut s = Schedule::new(AutoCompaction::Revision(100), start);
        assert_eq!(s.tick(), REVISION_MODE_INTERVAL);
        assert_eq!(s.due(start, 50), None);
        assert_eq!(s.due(start, 150), Some(50));
        s.compacted(start, 50);
        assert_eq!(s.due(start, 150), None, "nothing new to compact");
        assert_eq!(s.due(start, 180), Some(80));
    }
}
