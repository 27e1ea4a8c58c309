//! Durability: concurrent puts, SIGKILL, restart on the same data directory; every put the
//! server acknowledged must be readable afterwards with the revision it was acknowledged at.
//!
//! The kill point is seeded: each cycle kills the server once a seeded number of puts has
//! been acknowledged, while every writer still has a put in flight. Keys are unique per put,
//! so the check is exact: each acknowledged key has its value, `create_revision` =
//! `mod_revision` = the acknowledged revision and version 1; a key that was never
//! acknowledged may only be one of the puts that were in flight at the kill.
//!
//! A small `--snapshot-count` makes the servers checkpoint their store every few dozen
//! entries, so kills also land while a checkpoint is being made durable (ringkv finishes it
//! off the raft core while puts go on).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Target, TestServer, scratch_dir};
use etcd_client::{Client, ConnectOptions, GetOptions};
use tokio::sync::Notify;

for_both_targets! {
    acknowledged_puts_survive_sigkill,
}

const SEED: u64 = 0xD0_0AB1_E5EE_D006;
const CYCLES: usize = 20;
/// Enough that ringkv's Readys often carry 8+ entries, so kills also land on its durable
/// (`RWF_DSYNC`) WAL writes, not only on write + fdatasync.
const WRITERS: usize = 12;
/// Upper bound of the seeded number of acknowledged puts before each kill.
const MAX_ACKS_BEFORE_KILL: u64 = 120;
/// Every wait on the server is bounded by this.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A put the server acknowledged: key, value and the revision in the response header.
#[derive(Clone, Debug, PartialEq)]
struct Acked {
    value: String,
    revision: i64,
}

#[derive(Default)]
struct Cycle {
    acked: BTreeMap<String, Acked>,
    /// Puts sent but not acknowledged (at most one per writer: it stops on its first error).
    in_flight: BTreeSet<String>,
}

fn acknowledged_puts_survive_sigkill(target: Target) {
    let dir = scratch_dir(&format!("durability-{target:?}"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut server = target.start_with(&dir.join("data"), &["--snapshot-count=37"]);
    let mut rng = SEED;
    let mut acked = BTreeMap::new();
    let mut may_exist = BTreeSet::new();
    let mut checkpoints = 0;
    for cycle in 0..CYCLES {
        let kill_after = 1 + splitmix(&mut rng) % MAX_ACKS_BEFORE_KILL;
        let outcome = runtime.block_on(write_until_killed(&mut server, cycle, kill_after));
        assert!(
            outcome.acked.len() as u64 >= kill_after,
            "cycle {cycle}: killed after {} acks, wanted {kill_after}",
            outcome.acked.len()
        );
        acked.extend(outcome.acked);
        may_exist.extend(outcome.in_flight);
        checkpoints += server.log().matches("created a raft snapshot").count();

        server.restart();
        let stored = runtime.block_on(read_everything(&server));
        let mut missing = Vec::new();
        for (key, want) in &acked {
            match stored.get(key) {
                Some((got, create, version))
                    if got == want && *create == want.revision && *version == 1 => {}
                other => missing.push(format!("{key}: acknowledged {want:?}, stored {other:?}")),
            }
        }
        assert!(
            missing.is_empty(),
            "cycle {cycle}: {} acknowledged puts lost or changed:\n{}\nserver log:\n{}",
            missing.len(),
            missing.join("\n"),
            server.log()
        );
        let phantoms: Vec<&String> = stored
            .keys()
            .filter(|k| !acked.contains_key(*k) && !may_exist.contains(*k))
            .collect();
        assert!(
            phantoms.is_empty(),
            "cycle {cycle}: keys nobody wrote: {phantoms:?}"
        );
    }
    if target == Target::Ringkv {
        assert!(
            checkpoints > 0,
            "no checkpoint was made: the kills tested none"
        );
    }
    server.kill();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Starts `WRITERS` writers putting unique keys; SIGKILLs the server once `kill_after` puts are
/// acknowledged, then waits for every writer to see its error.
async fn write_until_killed(server: &mut TestServer, cycle: usize, kill_after: u64) -> Cycle {
    let client = connect(server).await;
    let outcome = Arc::new(Mutex::new(Cycle::default()));
    let enough = Arc::new(Notify::new());
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let mut client = client.clone();
        let outcome = Arc::clone(&outcome);
        let enough = Arc::clone(&enough);
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let key = format!("c{cycle:02}/w{writer}/{i:05}");
                let value = format!("value {cycle}.{writer}.{i}");
                let put = client.put(key.clone(), value.clone(), None).await;
                let mut outcome = outcome.lock().expect("no writer panics holding the lock");
                match put {
                    Ok(response) => {
                        let revision = response.header().expect("put has a header").revision();
                        outcome.acked.insert(key, Acked { value, revision });
                        if outcome.acked.len() as u64 >= kill_after {
                            enough.notify_one();
                        }
                    }
                    Err(_) => {
                        outcome.in_flight.insert(key);
                        return;
                    }
                }
            }
        }));
    }
    tokio::time::timeout(REQUEST_TIMEOUT, enough.notified())
        .await
        .unwrap_or_else(|_| {
            panic!("cycle {cycle}: {kill_after} puts were not acknowledged in time")
        });
    // The writers keep going on the other worker thread while this one kills the server.
    tokio::task::block_in_place(|| server.kill());
    for writer in writers {
        tokio::time::timeout(REQUEST_TIMEOUT * 2, writer)
            .await
            .expect("writers stop once the server is gone")
            .expect("writer task");
    }
    std::mem::take(&mut *outcome.lock().expect("writers are done"))
}

/// Every key with its stored value, create revision and version.
async fn read_everything(server: &TestServer) -> BTreeMap<String, (Acked, i64, i64)> {
    let mut client = connect(server).await;
    let response = client
        .get("", Some(GetOptions::new().with_all_keys()))
        .await
        .expect("read back after restart");
    response
        .kvs()
        .iter()
        .map(|kv| {
            let key = String::from_utf8_lossy(kv.key()).into_owned();
            let stored = Acked {
                value: String::from_utf8_lossy(kv.value()).into_owned(),
                revision: kv.mod_revision(),
            };
            (key, (stored, kv.create_revision(), kv.version()))
        })
        .collect()
}

async fn connect(server: &TestServer) -> Client {
    let options = ConnectOptions::new()
        .with_connect_timeout(Duration::from_secs(10))
        .with_timeout(REQUEST_TIMEOUT);
    Client::connect([server.endpoint()], Some(options))
        .await
        .expect("connect")
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
