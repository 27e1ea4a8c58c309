//! Watch differential: one watch stream carrying several watchers (server-chosen and
//! client-chosen IDs, prefixes, filters, prev_kv, history, cancel, progress, compaction)
//! driven through the `etcd-client` crate against the real etcd and against ringkv. Every
//! response is printed without what may differ between members (cluster/member IDs, raft
//! term). Responses for one revision may come in any watcher order, so each expected group
//! is read whole and sorted by watch ID before it is printed.

mod common;

use std::time::Duration;

use common::{Target, TestServer, scratch_dir};
use etcd_client::{
    Client, CompactionOptions, ConnectOptions, EventType, WatchFilterType, WatchOptions,
    WatchResponse, WatchStream,
};

for_both_targets! {
    watch_transcript_matches_reference_etcd,
}

const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);

fn watch_transcript_matches_reference_etcd(target: Target) {
    let dir = scratch_dir(&format!("watch-differential-{target:?}"));
    let reference = Target::Etcd.start(&dir.join("reference"));
    let expected = run_script(&reference);
    drop(reference);
    let server = target.start(&dir.join("target"));
    let actual = run_script(&server);
    drop(server);
    for (i, (e, a)) in expected.iter().zip(&actual).enumerate() {
        assert_eq!(a, e, "line {i} differs from the reference etcd");
    }
    assert_eq!(actual.len(), expected.len());
    let _ = std::fs::remove_dir_all(&dir);
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
        let response = tokio::time::timeout(RESPONSE_TIMEOUT, stream.message())
            .await
            .unwrap_or_else(|_| panic!("no watch response within {RESPONSE_TIMEOUT:?}"))
            .expect("watch stream error")
            .expect("watch stream ended");
        responses.push(response);
    }
    responses.sort_by_key(WatchResponse::watch_id);
    for response in &responses {
        log(describe(response));
    }
}

fn run_script(server: &TestServer) -> Vec<String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let options = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(10))
            .with_timeout(Duration::from_secs(30));
        let mut c = Client::connect([server.endpoint()], Some(options))
            .await
            .expect("connect");
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
