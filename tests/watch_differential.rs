//! Watch differential: one watch stream carrying several watchers (server-chosen and
//! client-chosen IDs, prefixes, filters, prev_kv, history, cancel, progress, compaction)
//! driven through the `etcd-client` crate against the real etcd and against ringkv. Every
//! response is printed without what may differ between members (cluster/member IDs, raft
//! term). Responses for one revision may come in any watcher order, so each expected group
//! is read whole and sorted by watch ID before it is printed.

mod common;

use common::{Target, TestServer, WATCH_RESPONSE_TIMEOUT, scratch_dir, watch_message};
use etcd_client::{
    CompactionOptions, EventType, Txn, TxnOp, WatchFilterType, WatchOptions, WatchResponse,
    WatchStream,
};

for_both_targets! {
    watch_transcript_matches_reference_etcd,
    watch_is_atomic_ordered_and_resumable_across_a_restart,
    progress_notify_tells_a_quiet_watcher_the_revision,
    fragment_splits_a_large_response_below_the_request_limit,
    a_half_closed_stream_still_delivers_events,
}

fn watch_transcript_matches_reference_etcd(target: Target) {
    let dir = scratch_dir(&format!("watch-differential-{target:?}"));
    common::assert_same_transcript(target, &dir, run_script);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The guarantees etcd's robustness suite checks: one txn's events arrive in one response
/// (atomic), revisions only grow (ordered) with none missing (reliable), and a new watch from
/// the last seen revision + 1 after a SIGKILL restart yields exactly the missed events
/// (resumable).
fn watch_is_atomic_ordered_and_resumable_across_a_restart(target: Target) {
    let dir = scratch_dir(&format!("watch-guarantees-{target:?}"));
    let mut server = target.start(&dir.join("data"));
    let last_seen = common::block_on(async {
        let mut c = common::connect_client(&server).await;
        let opts = WatchOptions::new().with_prefix();
        let mut stream = c.watch("g/", Some(opts)).await.expect("watch");
        assert!(watch_message(&mut stream).await.created());

        let puts = ["g/a", "g/b", "g/c"].map(|k| TxnOp::put(k, "t", None));
        c.txn(Txn::new().and_then(puts)).await.expect("txn"); // 2
        let txn = watch_message(&mut stream).await;
        let revisions: Vec<i64> = txn.events().iter().map(mod_revision).collect();
        assert_eq!(revisions, [2, 2, 2], "one txn, one response");

        for i in 0..20 {
            c.put(format!("g/{i}"), "v", None).await.expect("put"); // 3..=22
        }
        let mut seen = Vec::new();
        while seen.len() < 20 {
            let response = watch_message(&mut stream).await;
            seen.extend(response.events().iter().map(mod_revision));
        }
        assert_eq!(seen, (3..=22).collect::<Vec<_>>(), "ordered, no gaps");
        22
    });

    server.restart();
    common::block_on(async {
        let mut c = common::connect_client(&server).await;
        for i in 0..5 {
            c.put(format!("g/after-{i}"), "v", None).await.expect("put"); // 23..=27
        }
        let opts = WatchOptions::new()
            .with_prefix()
            .with_start_revision(last_seen + 1);
        let mut stream = c.watch("g/", Some(opts)).await.expect("watch");
        assert!(watch_message(&mut stream).await.created());
        let missed = watch_message(&mut stream).await;
        let revisions: Vec<i64> = missed.events().iter().map(mod_revision).collect();
        assert_eq!(revisions, (23..=27).collect::<Vec<_>>());
    });
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// With `--experimental-watch-progress-notify-interval`, a `progress_notify` watcher that
/// got no events since the last tick receives an empty response at the current revision.
fn progress_notify_tells_a_quiet_watcher_the_revision(target: Target) {
    let dir = scratch_dir(&format!("watch-progress-{target:?}"));
    let server = target.start_with(
        &dir.join("data"),
        &["--experimental-watch-progress-notify-interval=200ms"],
    );
    let transcript = common::block_on(async {
        let mut c = common::connect_client(&server).await;
        c.put("a", "1", None).await.expect("put"); // 2
        let opts = WatchOptions::new().with_progress_notify();
        let mut stream = c.watch("a", Some(opts)).await.expect("watch");
        let mut out = Vec::new();
        let log = &mut |line: String| out.push(line);
        next(&mut stream, 2, log).await;
        c.put("a", "2", None).await.expect("put"); // 3
        // A tick may still report revision 2 before the put's event; skip those.
        let mut response = watch_message(&mut stream).await;
        while response.events().is_empty() && response.header().map(|h| h.revision()) == Some(2) {
            response = watch_message(&mut stream).await;
        }
        log(describe(&response));
        next(&mut stream, 1, log).await;
        out
    });
    assert_eq!(
        transcript,
        [
            "rev=2 id=0 created=true canceled=false compact=0 reason=\"\" events=[]",
            "rev=2 id=0 created=false canceled=false compact=0 reason=\"\" events=[]",
            "rev=3 id=0 created=false canceled=false compact=0 reason=\"\" events=[\"PUT a=2@2/3/v2 prev=-\"]",
            "rev=3 id=0 created=false canceled=false compact=0 reason=\"\" events=[]",
        ]
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A `fragment` watcher's history larger than `--max-request-bytes` + 512 KiB (etcd's gRPC
/// overhead allowance) arrives in several responses, each below the limit.
fn fragment_splits_a_large_response_below_the_request_limit(target: Target) {
    const MAX_REQUEST_BYTES: usize = 4096;
    const LIMIT: usize = MAX_REQUEST_BYTES + 512 * 1024;
    let dir = scratch_dir(&format!("watch-fragment-{target:?}"));
    let server = target.start_with(&dir.join("data"), &["--max-request-bytes=4096"]);
    common::block_on(async {
        let mut c = common::connect_client(&server).await;
        let value = "v".repeat(3000);
        for i in 0..300 {
            c.put(format!("f/{i:03}"), value.as_str(), None)
                .await
                .expect("put"); // 2..=301
        }
        let opts = WatchOptions::new()
            .with_prefix()
            .with_start_revision(2)
            .with_fragment();
        let mut stream = c.watch("f/", Some(opts)).await.expect("watch");
        assert!(watch_message(&mut stream).await.created());
        // etcd-client does not expose the `fragment` flag: count the responses instead.
        let mut revisions = Vec::new();
        let mut responses = 0;
        while revisions.len() < 300 {
            let response = watch_message(&mut stream).await;
            assert_eq!(response.header().map(|h| h.revision()), Some(301));
            let size: usize = response
                .events()
                .iter()
                .map(|e| e.kv().map_or(0, |kv| kv.value().len()))
                .sum();
            assert!(size < LIMIT, "a fragment of {size} value bytes");
            revisions.extend(response.events().iter().map(mod_revision));
            responses += 1;
        }
        assert!(responses >= 2, "900 KB of events in one response");
        assert_eq!(revisions, (2..=301).collect::<Vec<_>>());
    });
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A client that ends its side of the stream (no more requests) keeps its watchers.
fn a_half_closed_stream_still_delivers_events(target: Target) {
    let dir = scratch_dir(&format!("watch-half-closed-{target:?}"));
    let server = target.start(&dir.join("data"));
    common::block_on(async {
        let mut c = common::connect_client(&server).await;
        let mut stream = c.watch("k", None).await.expect("watch");
        assert!(watch_message(&mut stream).await.created());
        let (requests, mut responses) = stream.split();
        drop(requests); // etcd-client ends the request stream: END_STREAM
        c.put("k", "v", None).await.expect("put"); // 2
        let response = tokio::time::timeout(WATCH_RESPONSE_TIMEOUT, responses.message())
            .await
            .unwrap_or_else(|_| panic!("no watch response within {WATCH_RESPONSE_TIMEOUT:?}"))
            .expect("watch stream error")
            .expect("watch stream ended");
        let revisions: Vec<i64> = response.events().iter().map(mod_revision).collect();
        assert_eq!(revisions, [2]);
    });
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

fn mod_revision(e: &etcd_client::Event) -> i64 {
    e.kv().map_or(0, etcd_client::KeyValue::mod_revision)
}

fn describe(r: &WatchResponse) -> String {
    let events: Vec<String> = r
        .events()
        .iter()
        .map(|e| {
            let kind = match e.event_type() {
                EventType::Put => "PUT",
                EventType::Delete => "DEL",
            };
            let kv = |kv: Option<&etcd_client::KeyValue>| {
                kv.map_or("-".to_owned(), |kv| {
                    format!(
                        "{}={}@{}/{}/v{}",
                        String::from_utf8_lossy(kv.key()),
                        String::from_utf8_lossy(kv.value()),
                        kv.create_revision(),
                        kv.mod_revision(),
                        kv.version()
                    )
                })
            };
            format!("{kind} {} prev={}", kv(e.kv()), kv(e.prev_kv()))
        })
        .collect();
    format!(
        "rev={} id={} created={} canceled={} compact={} reason={:?} events={events:?}",
        r.header().map_or(0, |h| h.revision()),
        r.watch_id(),
        r.created(),
        r.canceled(),
        r.compact_revision(),
        r.cancel_reason()
    )
}

/// The next `n` responses, sorted by watch ID, each printed on its own line.
async fn next(stream: &mut WatchStream, n: usize, log: &mut impl FnMut(String)) {
    let mut responses = Vec::new();
    for _ in 0..n {
        responses.push(watch_message(stream).await);
    }
    responses.sort_by_key(WatchResponse::watch_id);
    for response in &responses {
        log(describe(response));
    }
}

fn run_script(server: &TestServer) -> Vec<String> {
    common::block_on(async {
        let mut c = common::connect_client(server).await;
        let mut out = Vec::new();
        let log = &mut |line: String| out.push(line);

        c.put("a", "1", None).await.expect("put"); // 2
        c.put("b", "2", None).await.expect("put"); // 3

        // Watcher 0 on "a" from now; watcher 1 on "b" from revision 2 gets history first.
        let mut stream = c.watch("a", None).await.expect("watch");
        next(&mut stream, 1, log).await;
        let opts = WatchOptions::new().with_start_revision(2).with_prev_key();
        stream.watch("b", Some(opts)).await.expect("watch");
        next(&mut stream, 2, log).await;

        // A client's ID already in use is refused; a free one is taken; auto IDs skip it.
        let taken = WatchOptions::new().with_watch_id(1);
        stream.watch("x", Some(taken)).await.expect("watch");
        next(&mut stream, 1, log).await;
        let no_put = WatchOptions::new()
            .with_watch_id(10)
            .with_filters([WatchFilterType::NoPut]);
        stream.watch("c", Some(no_put)).await.expect("watch");
        next(&mut stream, 1, log).await;
        let prefix = WatchOptions::new().with_prefix().with_prev_key();
        stream.watch("c", Some(prefix)).await.expect("watch");
        next(&mut stream, 1, log).await;
        let no_delete = WatchOptions::new().with_filters([WatchFilterType::NoDelete]);
        stream.watch("b", Some(no_delete)).await.expect("watch");
        next(&mut stream, 1, log).await;

        // An empty range is refused.
        let empty = WatchOptions::new().with_range("a");
        stream.watch("z", Some(empty)).await.expect("watch");
        next(&mut stream, 1, log).await;

        // Live events, one response per watcher that wants them.
        c.put("a", "3", None).await.expect("put"); // 4
        next(&mut stream, 1, log).await;
        c.put("c", "1", None).await.expect("put"); // 5: the prefix watcher only
        next(&mut stream, 1, log).await;
        c.put("c2", "1", None).await.expect("put"); // 6: the prefix watcher only
        next(&mut stream, 1, log).await;
        c.delete("c", None).await.expect("delete"); // 7: both "c" watchers
        next(&mut stream, 2, log).await;
        c.put("b", "4", None).await.expect("put"); // 8: both "b" watchers
        next(&mut stream, 2, log).await;
        c.delete("b", None).await.expect("delete"); // 9: watcher 1 only
        next(&mut stream, 1, log).await;

        // Cancel answers; cancelling an unknown ID does not. A progress request answers
        // with watch ID -1 at the current revision.
        stream.cancel(2).await.expect("cancel");
        next(&mut stream, 1, log).await;
        stream.cancel(99).await.expect("cancel");
        c.put("c3", "1", None).await.expect("put"); // 10: nobody (2 is gone)
        stream.request_progress().await.expect("progress");
        next(&mut stream, 1, log).await;

        // A watcher from a compacted revision is created, then cancelled with the
        // compact revision.
        c.compact(6, Some(CompactionOptions::new().with_physical()))
            .await
            .expect("compact");
        let old = WatchOptions::new().with_start_revision(3).with_watch_id(20);
        stream.watch("a", Some(old)).await.expect("watch");
        next(&mut stream, 2, log).await;
        // From the compact revision on, the history is there.
        let kept = WatchOptions::new().with_start_revision(6).with_watch_id(21);
        stream
            .watch("c", Some(kept.with_prefix()))
            .await
            .expect("watch");
        next(&mut stream, 2, log).await;
        out
    })
}
