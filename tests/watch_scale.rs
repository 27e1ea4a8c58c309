//! Watch at scale, through the `etcd-client` crate: 10 000 watchers (single keys, prefixes,
//! ranges, open ranges) over 100 streams on 10 connections, fed by concurrent puts, txns
//! and deletes, each get every event of their range exactly once, in revision order, a
//! revision never split across responses (against both targets); and a stream that stops
//! reading while thousands of events flow costs the server no memory, then catches up with
//! every event once it drains (ringkv only: it reads the server's memory, and etcd's
//! garbage-collected heap answers to other rules).

mod common;

use std::collections::BTreeMap;

use common::{Target, scratch_dir, watch_message};
use etcd_client::{Client, EventType, Txn, TxnOp, WatchOptions, WatchStream};

const CONNECTIONS: usize = 10;
const STREAMS: usize = 100;
const WATCHERS_PER_STREAM: usize = 100;
const GROUPS: usize = 20;
const KEYS_PER_GROUP: usize = 10;
const KEYS: usize = GROUPS * KEYS_PER_GROUP;
const WRITERS: usize = 4;

/// One event as a watcher sees it: key, mod revision, delete.
type Seen = (String, i64, bool);

fn key(k: usize) -> String {
    format!("s/{:02}/{}", k / KEYS_PER_GROUP, k % KEYS_PER_GROUP)
}

/// What one watcher watches.
#[derive(Clone, Debug)]
enum Range {
    Key(String),
    Prefix(String),
    /// `[start, end)`.
    Between(String, String),
    /// Every key from here on (`range_end` = `\0`).
    From(String),
}

impl Range {
    /// Watcher `j` of stream `s`: mostly single keys, every tenth a prefix, every tenth a
    /// three-key range, the last of each stream every key.
    fn of(s: usize, j: usize) -> Range {
        let w = s * WATCHERS_PER_STREAM + j;
        if j == WATCHERS_PER_STREAM - 1 {
            return Range::From("s/".into());
        }
        match j % 10 {
            0 => Range::Prefix(format!("s/{:02}/", w / 10 % GROUPS)),
            1 => {
                let k = w % (KEYS - 3);
                Range::Between(key(k), key(k + 3))
            }
            _ => Range::Key(key(w * 7 % KEYS)),
        }
    }

    fn holds(&self, k: &str) -> bool {
        match self {
            Range::Key(key) => k == key,
            Range::Prefix(prefix) => k.starts_with(prefix.as_str()),
            Range::Between(start, end) => k >= start.as_str() && k < end.as_str(),
            Range::From(start) => k >= start.as_str(),
        }
    }

    fn request(&self) -> (String, WatchOptions) {
        match self {
            Range::Key(key) => (key.clone(), WatchOptions::new()),
            Range::Prefix(prefix) => (prefix.clone(), WatchOptions::new().with_prefix()),
            Range::Between(start, end) => {
                (start.clone(), WatchOptions::new().with_range(end.as_str()))
            }
            Range::From(start) => (start.clone(), WatchOptions::new().with_from_key()),
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Put(usize),
    /// Three puts in one revision.
    Txn([usize; 3]),
    Delete(usize),
}

impl Op {
    /// The keys it changes, in the order of its events.
    fn keys(&self) -> Vec<usize> {
        match *self {
            Op::Put(k) | Op::Delete(k) => vec![k],
            Op::Txn(keys) => keys.to_vec(),
        }
    }
}

/// Writer `t`'s operations, on its own keys only (so its deletes always find the key):
/// 50 puts, 10 three-key txns, 5 deletes. 200 puts, 40 txns and 20 deletes in all.
fn plan(t: usize) -> Vec<Op> {
    let mine: Vec<usize> = (0..KEYS).filter(|k| k % WRITERS == t).collect();
    let mut ops = Vec::new();
    for i in 0..mine.len() {
        ops.push(Op::Put(mine[i]));
        if i % 5 == 4 {
            ops.push(Op::Txn([mine[i - 4], mine[i - 2], mine[i]]));
        }
        if i % 10 == 9 {
            ops.push(Op::Delete(mine[i - 1]));
        }
    }
    ops
}

/// Runs `ops` one after another; returns each with the revision it got.
async fn write(mut client: Client, ops: Vec<Op>) -> Vec<(Op, i64)> {
    let mut done = Vec::new();
    for op in ops {
        let revision = match op {
            Op::Put(k) => {
                let r = client.put(key(k), "v", None).await.expect("put");
                r.header().expect("header").revision()
            }
            Op::Txn(keys) => {
                let puts = keys.map(|k| TxnOp::put(key(k), "t", None));
                let r = client.txn(Txn::new().and_then(puts)).await.expect("txn");
                r.header().expect("header").revision()
            }
            Op::Delete(k) => {
                let r = client.delete(key(k), None).await.expect("delete");
                assert_eq!(r.deleted(), 1, "{} was there to delete", key(k));
                r.header().expect("header").revision()
            }
        };
        done.push((op, revision));
    }
    done
}

for_both_targets! {
    ten_thousand_watchers_on_a_hundred_streams_get_each_event_once_in_order,
}

fn ten_thousand_watchers_on_a_hundred_streams_get_each_event_once_in_order(target: Target) {
    let dir = scratch_dir(&format!("watch-scale-{target:?}"));
    let server = target.start(&dir.join("data"));
    common::block_on(async {
        let mut clients = Vec::new();
        for _ in 0..CONNECTIONS {
            clients.push(common::connect_client(&server).await);
        }
        // The key of every event to come (their order is the writers' race).
        let changed: Vec<String> = (0..WRITERS)
            .flat_map(plan)
            .flat_map(|op| op.keys())
            .map(key)
            .collect();
        let mut readers = Vec::new();
        for s in 0..STREAMS {
            let ranges: Vec<Range> = (0..WATCHERS_PER_STREAM).map(|j| Range::of(s, j)).collect();
            let (first, options) = ranges[0].request();
            let client = &mut clients[s % CONNECTIONS];
            let mut stream = client.watch(first, Some(options)).await.expect("watch");
            for range in &ranges[1..] {
                let (start, options) = range.request();
                stream.watch(start, Some(options)).await.expect("watch");
            }
            for j in 0..WATCHERS_PER_STREAM {
                let created = watch_message(&mut stream).await;
                assert!(created.created(), "stream {s}: {created:?}");
                assert_eq!(
                    created.watch_id(),
                    j as i64,
                    "stream {s}: IDs from 0 in order"
                );
            }
            let expected = ranges
                .iter()
                .map(|range| changed.iter().filter(|k| range.holds(k)).count())
                .sum();
            readers.push(tokio::spawn(read_all(stream, expected)));
        }

        let writers: Vec<_> = (0..WRITERS)
            .map(|t| tokio::spawn(write(clients[t].clone(), plan(t))))
            .collect();
        // Every event that happened, in revision order (a txn's in its order).
        let mut history: Vec<Seen> = Vec::new();
        for writer in writers {
            for (op, revision) in writer.await.expect("writer") {
                for k in op.keys() {
                    history.push((key(k), revision, matches!(op, Op::Delete(_))));
                }
            }
        }
        history.sort_by_key(|(_, revision, _)| *revision);
        let revisions: Vec<i64> = history.iter().map(|e| e.1).collect();
        assert!(revisions.windows(2).all(|w| w[1] >= w[0]), "stable sort");

        let mut events = 0;
        for (s, reader) in readers.into_iter().enumerate() {
            let by_watcher = reader.await.expect("reader");
            for j in 0..WATCHERS_PER_STREAM {
                let range = Range::of(s, j);
                let want: Vec<Seen> = history
                    .iter()
                    .filter(|(k, _, _)| range.holds(k))
                    .cloned()
                    .collect();
                let got = by_watcher.get(&(j as i64)).cloned().unwrap_or_default();
                let got_events: Vec<Seen> = got.iter().map(|(e, _)| e.clone()).collect();
                assert_eq!(got_events, want, "stream {s} watcher {j} ({range:?})");
                // A revision's events all came in one response.
                for pair in got.windows(2) {
                    if pair[0].0.1 == pair[1].0.1 {
                        assert_eq!(pair[0].1, pair[1].1, "stream {s} watcher {j}: split");
                    }
                }
                events += got.len();
            }
        }
        assert!(events > 30_000, "{events} events delivered");
    });
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// How much the server's memory may grow while a stream is stalled: less than the events
/// that flow past it (78 MiB), so a queue of them would not fit. Measured: VmRSS and
/// RssAnon (its heap) grow by under 20 MiB; with a mailbox that queued every batch,
/// RssAnon grew by 90 MiB. The raft log's in-memory tail is kept short with
/// `--snapshot-count`, as it would otherwise hold every value written.
const STALL_GROWTH_BOUND_KIB: u64 = 64 * 1024;
const STALL_PUTS: usize = 2_000;
const STALL_VALUE_BYTES: usize = 40 * 1024;
const STALL_WRITERS: usize = 16;

/// One watcher stops reading while 78 MiB of events flow past it (to a live watcher that
/// does read): the server's memory does not grow with them, and once the stalled stream
/// drains it gets every event, exactly once, in order (from history).
#[test]
fn a_stalled_stream_holds_no_events_and_catches_up_once_it_drains() {
    let dir = scratch_dir("watch-stall");
    let server = Target::Ringkv.start_with(&dir.join("data"), &["--snapshot-count=200"]);
    let pid = server.pid();
    common::block_on(async {
        // Catch-up responses carry up to 1000 revisions: 40 MiB here.
        let big = 128 * 1024 * 1024;
        let prefix = || Some(WatchOptions::new().with_prefix());
        let stalled_client = common::connect_client(&server).await;
        let mut stalled = stalled_client.watch_client().max_decoding_message_size(big);
        let mut stalled = stalled.watch("big/", prefix()).await.expect("watch");
        assert!(watch_message(&mut stalled).await.created());
        let client = common::connect_client(&server).await;
        let mut live = client.watch_client().max_decoding_message_size(big);
        let mut live = live.watch("big/", prefix()).await.expect("watch");
        assert!(watch_message(&mut live).await.created());
        let live = tokio::spawn(read_events(live, STALL_PUTS));

        let before = Memory::of(pid);
        let value = "v".repeat(STALL_VALUE_BYTES);
        let writers: Vec<_> = (0..STALL_WRITERS)
            .map(|t| {
                let mut client = client.clone();
                let value = value.clone();
                tokio::spawn(async move {
                    let mut peak = Memory::default();
                    for i in (t..STALL_PUTS).step_by(STALL_WRITERS) {
                        client
                            .put(format!("big/{i:05}"), value.as_str(), None)
                            .await
                            .expect("put");
                        if i % 100 < STALL_WRITERS {
                            peak = peak.max(Memory::of(pid));
                        }
                    }
                    peak
                })
            })
            .collect();
        let mut peak = before;
        for writer in writers {
            peak = peak.max(writer.await.expect("writer"));
        }
        let flowed = live.await.expect("live reader");
        peak = peak.max(Memory::of(pid));
        let (rss, anon) = (peak.rss - before.rss, peak.anon - before.anon);
        eprintln!("while a stream was stalled: VmRSS +{rss} KiB, RssAnon +{anon} KiB");
        assert!(
            rss < STALL_GROWTH_BOUND_KIB && anon < STALL_GROWTH_BOUND_KIB,
            "memory grew while a stream was stalled: {before:?} -> {peak:?}"
        );

        let drained = read_events(stalled, STALL_PUTS).await;
        assert_eq!(drained.len(), STALL_PUTS);
        assert_eq!(
            drained, flowed,
            "the stalled stream got what the live one got"
        );
        let revisions: Vec<i64> = drained.iter().map(|e| e.1).collect();
        assert!(
            revisions.windows(2).all(|w| w[0] < w[1]),
            "in order, each once"
        );
    });
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Exactly the next `n` events of a stream.
async fn read_events(mut stream: WatchStream, n: usize) -> Vec<Seen> {
    let mut seen = Vec::new();
    while seen.len() < n {
        let response = watch_message(&mut stream).await;
        seen.extend(response.events().iter().map(describe));
    }
    assert_eq!(seen.len(), n, "no more than asked for");
    seen
}

/// Reads a stream until `expected` events have come, then asks for a progress bookmark
/// and reads up to it, so an event sent twice would be caught too. Returns each
/// watcher's events with the number of the response that carried them.
async fn read_all(mut stream: WatchStream, expected: usize) -> BTreeMap<i64, Vec<(Seen, usize)>> {
    let mut by_watcher: BTreeMap<i64, Vec<(Seen, usize)>> = BTreeMap::new();
    let mut count = 0;
    let mut asked = false;
    for n in 0.. {
        if count >= expected && !asked {
            stream.request_progress().await.expect("progress");
            asked = true;
        }
        let response = watch_message(&mut stream).await;
        if asked && response.watch_id() == -1 && response.events().is_empty() {
            break;
        }
        let seen = by_watcher.entry(response.watch_id()).or_default();
        for e in response.events() {
            seen.push((describe(e), n));
            count += 1;
        }
    }
    by_watcher
}

fn describe(e: &etcd_client::Event) -> Seen {
    let kv = e.kv().expect("event kv");
    (
        String::from_utf8_lossy(kv.key()).into_owned(),
        kv.mod_revision(),
        e.event_type() == EventType::Delete,
    )
}

/// A process's resident memory, from /proc/<pid>/status, in KiB.
#[derive(Clone, Copy, Debug, Default)]
struct Memory {
    rss: u64,
    anon: u64,
}

impl Memory {
    fn of(pid: u32) -> Memory {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .expect("read /proc/<pid>/status");
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
        };
        Memory {
            rss: field("VmRSS"),
            anon: field("RssAnon"),
        }
    }

    fn max(self, other: Memory) -> Memory {
        Memory {
            rss: self.rss.max(other.rss),
            anon: self.anon.max(other.anon),
        }
    }
}
