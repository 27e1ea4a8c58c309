//! Lease differential: one scripted sequence of grants, attaches, detaches, keepalives,
//! TimeToLive, Leases and revokes, with its error cases, run through the `etcd-client`
//! crate against the real etcd and against ringkv. Each answer is printed without what
//! may differ between members (cluster/member IDs, raft term) and with server-chosen lease
//! IDs replaced by their order of appearance and remaining TTLs checked, not printed.

mod common;

use common::{Target, TestServer, scratch_dir};
use etcd_client::{LeaseGrantOptions, LeaseTimeToLiveOptions, PutOptions};

for_both_targets! {
    lease_transcript_matches_reference_etcd,
}

fn lease_transcript_matches_reference_etcd(target: Target) {
    let dir = scratch_dir(&format!("lease-differential-{target:?}"));
    common::assert_same_transcript(target, &dir, run_script);
    let _ = std::fs::remove_dir_all(&dir);
}

fn error_text(e: &etcd_client::Error) -> String {
    match e {
        etcd_client::Error::GRpcStatus(s) => format!("error {:?}: {}", s.code(), s.message()),
        other => format!("error {other}"),
    }
}

fn run_script(server: &TestServer) -> Vec<String> {
    common::block_on(async {
        let mut c = common::connect_client(server).await;
        let mut out = Vec::new();
        let mut log = |line: String| out.push(line);

        // Grants: explicit IDs, the minimum TTL, an existing ID, too large a TTL.
        for (ttl, id) in [(100, 7), (1, 8), (30, 7), (9_000_000_001, 9), (60, 10)] {
            let opts = LeaseGrantOptions::new().with_id(id);
            match c.lease_grant(ttl, Some(opts)).await {
                Ok(r) => log(format!(
                    "grant ttl={ttl} id={id} => id={} ttl={} rev={}",
                    r.id(),
                    r.ttl(),
                    r.header().map_or(0, |h| h.revision())
                )),
                Err(e) => log(format!("grant ttl={ttl} id={id} => {}", error_text(&e))),
            }
        }
        // A server-chosen ID is positive and new.
        let chosen = c.lease_grant(50, None).await.expect("grant");
        log(format!(
            "grant ttl=50 => positive={} ttl={}",
            chosen.id() > 0,
            chosen.ttl()
        ));

        // Attach, move, detach and keep (ignore_lease) through puts.
        let puts: [(&str, PutOptions); 6] = [
            ("a", PutOptions::new().with_lease(7)),
            ("b", PutOptions::new().with_lease(7)),
            ("c", PutOptions::new().with_lease(10)),
            ("b", PutOptions::new().with_lease(10)),
            ("c", PutOptions::new()),
            ("a", PutOptions::new().with_ignore_lease()),
        ];
        for (key, opts) in puts {
            match c.put(key, "v", Some(opts)).await {
                Ok(r) => log(format!(
                    "put {key} => rev={}",
                    r.header().map_or(0, |h| h.revision())
                )),
                Err(e) => log(format!("put {key} => {}", error_text(&e))),
            }
        }
        let unknown = c
            .put("d", "v", Some(PutOptions::new().with_lease(12345)))
            .await;
        log(format!(
            "put d lease=12345 => {}",
            unknown.map_or_else(|e| error_text(&e), |_| "ok".into())
        ));

        for id in [7, 10, 8, 12345] {
            let opts = LeaseTimeToLiveOptions::new().with_keys();
            match c.lease_time_to_live(id, Some(opts)).await {
                Ok(r) => {
                    // etcd lists attached keys from a Go map: compare them as a set.
                    let mut keys: Vec<String> = r
                        .keys()
                        .iter()
                        .map(|k| String::from_utf8_lossy(k).into_owned())
                        .collect();
                    keys.sort();
                    log(format!(
                        "ttl {id} => id={} granted={} remaining_ok={} keys={keys:?}",
                        r.id(),
                        r.granted_ttl(),
                        r.ttl() == -1 || (0..=r.granted_ttl()).contains(&r.ttl())
                    ))
                }
                Err(e) => log(format!("ttl {id} => {}", error_text(&e))),
            }
        }

        // Keepalives: a live lease answers its TTL, an unknown one TTL 0.
        for id in [7, 12345, 10, 7] {
            // The client itself turns an answer's TTL 0 into an error.
            let (mut keeper, mut stream) = match c.lease_keep_alive(id).await {
                Ok(opened) => opened,
                Err(e) => {
                    log(format!("keepalive {id} => {}", error_text(&e)));
                    continue;
                }
            };
            keeper.keep_alive().await.expect("send keepalive");
            match stream.message().await {
                Ok(r) => log(format!(
                    "keepalive {id} => {:?}",
                    r.map(|r| (r.id(), r.ttl()))
                )),
                Err(e) => log(format!("keepalive {id} => {}", error_text(&e))),
            }
        }

        let mut ids: Vec<i64> = c
            .leases()
            .await
            .expect("leases")
            .leases()
            .iter()
            .map(|l| l.id())
            .filter(|&id| id < 1000)
            .collect();
        ids.sort_unstable();
        log(format!("leases => {ids:?}"));

        // Revoke deletes the attached keys in one revision; then everything is gone.
        for id in [10, 10, 7, 12345] {
            match c.lease_revoke(id).await {
                Ok(r) => log(format!(
                    "revoke {id} => rev={}",
                    r.header().map_or(0, |h| h.revision())
                )),
                Err(e) => log(format!("revoke {id} => {}", error_text(&e))),
            }
        }
        for key in ["a", "b", "c"] {
            let r = c.get(key, None).await.expect("get");
            log(format!(
                "get {key} => {:?}",
                r.kvs()
                    .iter()
                    .map(|kv| (kv.mod_revision(), kv.lease()))
                    .collect::<Vec<_>>()
            ));
        }
        out
    })
}
