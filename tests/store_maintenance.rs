//! Compaction and defragmentation through the API, on ringkv and the real etcd: a physical
//! compaction deletes old versions, a defragment gives the freed pages back (dbSize shrinks,
//! on disk too) while every live key and its revisions stay readable, across a SIGKILL
//! restart. Writes issued while the defragment runs are answered and kept. Periodic auto
//! compaction compacts by itself.

mod common;

use common::{Target, block_on, connect_client, scratch_dir};
use etcd_client::{Client, CompactionOptions, GetOptions};

const KEYS: usize = 1500;
/// Versions written per key; all but the newest go at compaction.
const VERSIONS: usize = 3;
/// One key in this many survives the deletes.
const KEEP_EVERY: usize = 10;

fn key(i: usize) -> String {
    format!("maint/{i:05}")
}

/// 1.5 KiB: values of this size take a page of their own in ringkv's store.
fn value(i: usize, version: usize) -> String {
    format!("{i}-{version}-").repeat(1536)[..1536].to_owned()
}

async fn db_size(client: &mut Client) -> i64 {
    client.status().await.expect("status").db_size()
}

/// The kept keys' latest values and mod revisions, in key order.
async fn kept(client: &mut Client) -> Vec<(String, String, i64)> {
    let resp = client
        .get("maint/", Some(GetOptions::new().with_prefix()))
        .await
        .expect("range");
    resp.kvs()
        .iter()
        .map(|kv| {
            (
                kv.key_str().expect("utf-8 key").to_owned(),
                kv.value_str().expect("utf-8 value").to_owned(),
                kv.mod_revision(),
            )
        })
        .collect()
}

fn file_len(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).expect("the store file").len()
}

fn compaction_and_defragment_give_space_back(target: Target) {
    let dir = scratch_dir("compaction-and-defragment");
    let mut server = target.start(&dir);
    let db_file = dir.join("member/snap/db");
    let want = block_on(async {
        let mut client = connect_client(&server).await;
        for version in 0..VERSIONS {
            for i in 0..KEYS {
                client
                    .put(key(i), value(i, version), None)
                    .await
                    .expect("put");
            }
        }
        for i in (0..KEYS).filter(|i| i % KEEP_EVERY != 0) {
            client.delete(key(i), None).await.expect("delete");
        }
        let revision = client
            .get("maint/", None)
            .await
            .expect("get")
            .header()
            .expect("header")
            .revision();
        client
            .compact(revision, Some(CompactionOptions::new().with_physical()))
            .await
            .expect("physical compaction");
        // A read below the compaction is refused once it is physical.
        let old = client
            .get(key(0), Some(GetOptions::new().with_revision(2)))
            .await;
        assert!(old.is_err(), "a read at a compacted revision must fail");
        let want = kept(&mut client).await;
        assert_eq!(want.len(), KEYS / KEEP_EVERY);

        let before = db_size(&mut client).await;
        let file_before = file_len(&db_file);
        // Writes while the defragment runs are answered and kept (ringkv serves them between
        // its steps; etcd holds them until it is done).
        let mut writer = connect_client(&server).await;
        let writes = tokio::spawn(async move {
            for i in 0..50 {
                writer
                    .put(format!("during/{i:03}"), "x", None)
                    .await
                    .expect("put during defragment");
            }
        });
        client.defragment().await.expect("defragment");
        writes.await.expect("writer task");
        let after = db_size(&mut client).await;
        assert!(
            after < before / 2,
            "dbSize {before} before the defragment, {after} after"
        );
        let file_after = file_len(&db_file);
        assert!(
            file_after < file_before / 2,
            "the store file was {file_before} bytes before the defragment, {file_after} after"
        );
        assert_eq!(kept(&mut client).await, want);
        want
    });

    server.restart();
    block_on(async {
        let mut client = connect_client(&server).await;
        assert_eq!(kept(&mut client).await, want);
        let during = client
            .get(
                "during/",
                Some(GetOptions::new().with_prefix().with_count_only()),
            )
            .await
            .expect("count");
        assert_eq!(during.count(), 50);
        // The store goes on growing and shrinking as usual.
        client
            .put("maint/after", "restart", None)
            .await
            .expect("put after restart");
    });
}

/// `--auto-compaction-mode=periodic --auto-compaction-retention=1s`: the member compacts by
/// itself, to a revision about a second old, and keeps doing so.
fn periodic_auto_compaction_compacts_old_revisions(target: Target) {
    let dir = scratch_dir("auto-compaction");
    let server = target.start_with(
        &dir,
        &[
            "--auto-compaction-mode=periodic",
            "--auto-compaction-retention=1s",
        ],
    );
    block_on(async {
        let mut client = connect_client(&server).await;
        for version in 0..3 {
            client
                .put("auto", format!("v{version}"), None)
                .await
                .expect("put");
        }
        // Bounded wait for the compactor: the first compaction comes after one retention,
        // and reaches revision 2 within about two.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            match client
                .get("auto", Some(GetOptions::new().with_revision(2)))
                .await
            {
                Err(e) => {
                    assert!(
                        e.to_string()
                            .contains("required revision has been compacted"),
                        "{e}"
                    );
                    break;
                }
                Ok(_) => {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "revision 2 still readable after 30 s of 1 s auto compaction"
                    );
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
        let latest = client.get("auto", None).await.expect("get");
        assert_eq!(latest.kvs()[0].value_str().expect("utf-8"), "v2");
    });
}

for_both_targets!(
    compaction_and_defragment_give_space_back,
    periodic_auto_compaction_compacts_old_revisions,
);
