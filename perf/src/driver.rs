//! Drives one workload against an endpoint through the `etcd-client` crate and measures it.
//!
//! Request/response workloads run closed-loop like etcd's `benchmark`: `--clients` tasks
//! spread over `--conns` connections, each with one request outstanding, until `--total`
//! requests (or `--duration`) are done, optionally paced to `--rate` over all clients. Watch
//! workloads put at `--put-rate` and time each event from the put's send to its delivery.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use etcd_client::{
    Client, GetOptions, KvClient, LeaseKeepAliveStream, LeaseKeeper, Txn, TxnOp, WatchStream,
};
use hdrhistogram::Histogram;
use tokio::task::JoinHandle;

use crate::report::{Report, new_histogram};
use crate::workload::{Consistency, Job, KeyArgs, Load, RangeArgs, WatchArgs};

/// How long a watch run waits, after its last put, for events still in flight.
const DELIVERY_GRACE: Duration = Duration::from_secs(10);
/// How long to wait for a watch stream's `created` answers.
const SETUP_TIMEOUT: Duration = Duration::from_secs(30);
/// The lease TTL keep-alive clients hold; long enough never to lapse during a run.
const KEEPALIVE_LEASE_TTL: i64 = 600;

#[derive(Debug, thiserror::Error)]
pub enum DriveError {
    #[error("connect to {endpoints:?}: {source}")]
    Connect {
        endpoints: Vec<String>,
        source: etcd_client::Error,
    },
    #[error("set up {what}: {source}")]
    Setup {
        what: &'static str,
        source: etcd_client::Error,
    },
    #[error("set up {0}: timed out")]
    SetupTimeout(&'static str),
    #[error("a client task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Opens `conns` connections (each its own `Client`, so its own HTTP/2 connection).
pub async fn connect(endpoints: &[String], conns: usize) -> Result<Vec<Client>, DriveError> {
    let mut clients = Vec::with_capacity(conns.max(1));
    for _ in 0..conns.max(1) {
        let client =
            Client::connect(endpoints, None)
                .await
                .map_err(|source| DriveError::Connect {
                    endpoints: endpoints.to_vec(),
                    source,
                })?;
        clients.push(client);
    }
    Ok(clients)
}

/// Runs `job` with `load` against `endpoints`; a progress line goes to stderr when it is a
/// terminal and `progress` is set.
pub async fn run(
    job: &Job,
    load: &Load,
    endpoints: &[String],
    progress: bool,
) -> Result<Report, DriveError> {
    let conns = connect(endpoints, load.conns).await?;
    match job {
        Job::Watch(args) => watch(job, &conns, args, false, progress).await,
        Job::WatchFanout(args) => watch(job, &conns, args, true, progress).await,
        _ => closed_loop(job, load, &conns, progress).await,
    }
}

/// One client's connection-bound state for a request/response workload.
enum Session {
    Put {
        kv: KvClient,
        keys: KeyArgs,
        value: Vec<u8>,
    },
    Range {
        kv: KvClient,
        key: Vec<u8>,
        options: GetOptions,
    },
    TxnPut {
        kv: KvClient,
        keys: KeyArgs,
        value: Vec<u8>,
        ops: usize,
    },
    TxnMixed {
        kv: KvClient,
        keys: KeyArgs,
        value: Vec<u8>,
        read_probability: f64,
        limit: i64,
    },
    Keepalive {
        keeper: LeaseKeeper,
        stream: LeaseKeepAliveStream,
    },
}

impl Session {
    async fn open(job: &Job, client: &Client) -> Result<Session, DriveError> {
        let kv = client.kv_client();
        Ok(match job {
            Job::Put(keys) => Session::Put {
                kv,
                value: filler(keys.val_size),
                keys: keys.clone(),
            },
            Job::Range(args) => Session::Range {
                kv,
                key: args.key.clone().into_bytes(),
                options: range_options(args),
            },
            Job::TxnPut(args) => Session::TxnPut {
                kv,
                value: filler(args.keys.val_size),
                keys: args.keys.clone(),
                ops: args.txn_ops.max(1),
            },
            Job::TxnMixed(args) => Session::TxnMixed {
                kv,
                value: filler(args.keys.val_size),
                keys: args.keys.clone(),
                read_probability: args.rw_ratio / (1.0 + args.rw_ratio),
                limit: args.limit,
            },
            Job::LeaseKeepalive => {
                let mut leases = client.lease_client();
                let lease = leases
                    .grant(KEEPALIVE_LEASE_TTL, None)
                    .await
                    .map_err(|source| DriveError::Setup {
                        what: "lease grant",
                        source,
                    })?;
                let (keeper, stream) =
                    leases
                        .keep_alive(lease.id())
                        .await
                        .map_err(|source| DriveError::Setup {
                            what: "lease keep-alive stream",
                            source,
                        })?;
                Session::Keepalive { keeper, stream }
            }
            Job::Watch(_) | Job::WatchFanout(_) => unreachable!("watch jobs are not closed-loop"),
        })
    }

    /// Request number `index`; `random` picks random keys.
    async fn request(&mut self, index: u64, random: &mut Rng) -> Result<(), etcd_client::Error> {
        match self {
            Session::Put { kv, keys, value } => {
                kv.put(keys.key(index, random.next()), value.clone(), None)
                    .await?;
            }
            Session::Range { kv, key, options } => {
                kv.get(key.clone(), Some(options.clone())).await?;
            }
            Session::TxnPut {
                kv,
                keys,
                value,
                ops,
            } => {
                // Consecutive keys from the request's start, as `benchmark txn-put` writes
                // (i × ops + j): no key repeats within a txn, which etcd refuses ("duplicate
                // key given in txn request"), while the key space holds `ops` keys.
                let (ops, space) = (*ops as u128, u128::from(keys.key_space_size.max(1)));
                let start = if keys.sequential_keys {
                    u128::from(index) * ops
                } else {
                    u128::from(random.next())
                };
                // Below the key space, so it fits a u64.
                let number = |j: u128| ((start + j) % space) as u64;
                let puts: Vec<TxnOp> = (0..ops)
                    .map(|j| TxnOp::put(keys.numbered(number(j)), value.clone(), None))
                    .collect();
                kv.txn(Txn::new().and_then(puts)).await?;
            }
            Session::TxnMixed {
                kv,
                keys,
                value,
                read_probability,
                limit,
            } => {
                let key = keys.key(index, random.next());
                let op = if random.unit() < *read_probability {
                    TxnOp::get(key, Some(GetOptions::new().with_limit(*limit)))
                } else {
                    TxnOp::put(key, value.clone(), None)
                };
                kv.txn(Txn::new().and_then(vec![op])).await?;
            }
            Session::Keepalive { keeper, stream } => {
                keeper.keep_alive().await?;
                if stream.message().await?.is_none() {
                    return Err(etcd_client::Error::LeaseKeepAliveError(
                        "keep-alive stream ended".into(),
                    ));
                }
            }
        }
        Ok(())
    }
}

fn range_options(args: &RangeArgs) -> GetOptions {
    let mut options = GetOptions::new().with_limit(args.limit);
    if let Some(end) = &args.end {
        options = options.with_range(end.clone());
    }
    if args.consistency == Consistency::Serializable {
        options = options.with_serializable();
    }
    options
}

/// What one client task hands back.
struct Tally {
    latency: Histogram<u64>,
    errors: BTreeMap<String, u64>,
    requests: u64,
    finished: Instant,
}

async fn closed_loop(
    job: &Job,
    load: &Load,
    conns: &[Client],
    progress: bool,
) -> Result<Report, DriveError> {
    let mut sessions = Vec::with_capacity(load.clients.max(1));
    for i in 0..load.clients.max(1) {
        sessions.push(Session::open(job, &conns[i % conns.len()]).await?);
    }
    let issued = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = load.duration.map(|d| start + d);
    let pacer = (load.rate > 0).then(|| Arc::new(Pacer::new(start, load.rate)));
    let total = load.total;
    let tasks: Vec<JoinHandle<Tally>> = sessions
        .into_iter()
        .enumerate()
        .map(|(i, mut session)| {
            let issued = issued.clone();
            let done = done.clone();
            let pacer = pacer.clone();
            tokio::spawn(async move {
                let mut rng = Rng::seeded(i as u64);
                let mut tally = Tally {
                    latency: new_histogram(),
                    errors: BTreeMap::new(),
                    requests: 0,
                    finished: Instant::now(),
                };
                loop {
                    let index = issued.fetch_add(1, Ordering::Relaxed);
                    match deadline {
                        Some(deadline) if Instant::now() >= deadline => break,
                        None if index >= total => break,
                        _ => {}
                    }
                    if let Some(pacer) = &pacer {
                        pacer.wait().await;
                    }
                    let sent = Instant::now();
                    match session.request(index, &mut rng).await {
                        Ok(()) => {
                            tally.latency.saturating_record(nanos(sent.elapsed()));
                            tally.requests += 1;
                        }
                        Err(error) => *tally.errors.entry(error_kind(&error)).or_default() += 1,
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
                tally.finished = Instant::now();
                tally
            })
        })
        .collect();
    let ticker = progress.then(|| {
        spawn_progress(
            done.clone(),
            start,
            load.duration.map_or(Goal::Requests(total), Goal::Time),
        )
    });
    let mut report = Report::empty(job.workload().name());
    let mut last = start;
    for task in tasks {
        let tally = task.await?;
        report.add(&tally.latency, tally.requests, tally.errors);
        last = last.max(tally.finished);
    }
    report.elapsed = last - start;
    stop_progress(ticker);
    Ok(report)
}

/// One watch stream's measurements; shared so a stream cut short still reports.
#[derive(Default)]
struct StreamTally {
    latency: Option<Histogram<u64>>,
    delivered: u64,
    last: Option<Instant>,
}

async fn watch(
    job: &Job,
    conns: &[Client],
    args: &WatchArgs,
    fanout: bool,
    progress: bool,
) -> Result<Report, DriveError> {
    let watchers = args.streams.max(1) * args.watchers_per_stream.max(1);
    let per_stream = args.watchers_per_stream.max(1);
    let key = |watcher: usize| -> Vec<u8> {
        let name = if fanout {
            "watch-fanout".to_owned()
        } else {
            format!("watch-{watcher:08}")
        };
        let mut key = name.into_bytes();
        key.resize(args.key_size.max(key.len()), b'-');
        key
    };
    let epoch = Instant::now();
    let delivered = Arc::new(AtomicU64::new(0));
    let mut tallies = Vec::new();
    let mut tasks = Vec::new();
    for s in 0..args.streams.max(1) {
        let mut client = conns[s % conns.len()].clone();
        let first = s * per_stream;
        let mut stream =
            client
                .watch(key(first), None)
                .await
                .map_err(|source| DriveError::Setup {
                    what: "watch stream",
                    source,
                })?;
        for w in first + 1..first + per_stream {
            stream
                .watch(key(w), None)
                .await
                .map_err(|source| DriveError::Setup {
                    what: "watch",
                    source,
                })?;
        }
        await_created(&mut stream, per_stream).await?;
        let expected = if fanout {
            args.put_total * per_stream as u64
        } else {
            // Put i goes to watcher i % watchers; count the ones this stream holds.
            (0..args.put_total)
                .filter(|i| (*i as usize % watchers) / per_stream == s)
                .count() as u64
        };
        let tally = Arc::new(Mutex::new(StreamTally {
            latency: Some(new_histogram()),
            ..StreamTally::default()
        }));
        tallies.push(tally.clone());
        let delivered = delivered.clone();
        tasks.push(tokio::spawn(async move {
            let mut seen = 0;
            while seen < expected {
                let Ok(Some(response)) = stream.message().await else {
                    break;
                };
                let now = Instant::now();
                let Ok(mut tally) = tally.lock() else { break };
                for event in response.events() {
                    let Some(sent) = event.kv().and_then(|kv| sent_at(kv.value())) else {
                        continue;
                    };
                    let latency = nanos(now - epoch).saturating_sub(sent);
                    if let Some(histogram) = tally.latency.as_mut() {
                        histogram.saturating_record(latency.max(1));
                    }
                    tally.delivered += 1;
                    tally.last = Some(now);
                    seen += 1;
                }
                delivered.fetch_add(response.events().len() as u64, Ordering::Relaxed);
            }
        }));
    }

    let expected_total = if fanout {
        args.put_total * watchers as u64
    } else {
        args.put_total
    };
    let ticker = progress.then(|| {
        spawn_progress(
            delivered.clone(),
            Instant::now(),
            Goal::Requests(expected_total),
        )
    });
    let mut errors = BTreeMap::new();
    let mut kv = conns[0].kv_client();
    let pacer = Pacer::new(Instant::now(), args.put_rate.max(1));
    let first_put = Instant::now();
    for i in 0..args.put_total {
        pacer.wait().await;
        let mut value = nanos(epoch.elapsed()).to_le_bytes().to_vec();
        value.resize(args.val_size.max(8), b'v');
        let watcher = if fanout { 0 } else { i as usize % watchers };
        if let Err(error) = kv.put(key(watcher), value, None).await {
            *errors
                .entry(format!("put: {}", error_kind(&error)))
                .or_default() += 1;
        }
    }
    let give_up = tokio::time::Instant::now() + DELIVERY_GRACE;
    // A stream that has not heard everything by then is left behind; its tally so far
    // counts, and the rest is reported as undelivered.
    for task in tasks {
        let _ = tokio::time::timeout_at(give_up, task).await;
    }
    stop_progress(ticker);

    let mut report = Report::empty(job.workload().name());
    let mut last = first_put;
    for tally in &tallies {
        let Ok(mut tally) = tally.lock() else {
            continue;
        };
        let latency = tally.latency.take().unwrap_or_else(new_histogram);
        report.add(&latency, tally.delivered, BTreeMap::new());
        last = last.max(tally.last.unwrap_or(first_put));
    }
    let missing = expected_total.saturating_sub(report.requests);
    if missing > 0 {
        errors.insert(
            format!("event not delivered within {DELIVERY_GRACE:?} of the last put"),
            missing,
        );
    }
    report.errors = errors;
    report.elapsed = last - first_put;
    Ok(report)
}

/// Waits for `count` `created` answers on a fresh watch stream.
async fn await_created(stream: &mut WatchStream, count: usize) -> Result<(), DriveError> {
    let mut created = 0;
    let wait = async {
        while created < count {
            match stream.message().await {
                Ok(Some(response)) if response.created() => created += 1,
                Ok(Some(_)) => {}
                Ok(None) => return Err(DriveError::SetupTimeout("watch (stream ended)")),
                Err(source) => {
                    return Err(DriveError::Setup {
                        what: "watch",
                        source,
                    });
                }
            }
        }
        Ok(())
    };
    tokio::time::timeout(SETUP_TIMEOUT, wait)
        .await
        .map_err(|_| DriveError::SetupTimeout("watch"))?
}

/// The send time a watch workload's put carries in its value's first 8 bytes.
fn sent_at(value: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(value.get(..8)?.try_into().ok()?))
}

/// An error's kind for the error table: the gRPC code and message, or the error text.
pub fn error_kind(error: &etcd_client::Error) -> String {
    match error {
        etcd_client::Error::GRpcStatus(status) => {
            format!("{:?}: {}", status.code(), status.message())
        }
        other => other.to_string(),
    }
}

fn filler(size: usize) -> Vec<u8> {
    let mut rng = Rng::seeded(0xfeed);
    (0..size).map(|_| b'a' + (rng.next() % 26) as u8).collect()
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// Spaces requests `1/rate` apart over all clients that share it.
struct Pacer {
    start: Instant,
    interval_nanos: u64,
    next: AtomicU64,
}

impl Pacer {
    fn new(start: Instant, rate: u64) -> Pacer {
        Pacer {
            start,
            interval_nanos: 1_000_000_000 / rate.max(1),
            next: AtomicU64::new(0),
        }
    }

    async fn wait(&self) {
        let slot = self.next.fetch_add(self.interval_nanos, Ordering::Relaxed);
        tokio::time::sleep_until((self.start + Duration::from_nanos(slot)).into()).await;
    }
}

/// xorshift64*: cheap per-client randomness for key choice; not for anything secret.
struct Rng(u64);

impl Rng {
    fn seeded(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

enum Goal {
    Requests(u64),
    Time(Duration),
}

/// Ends the progress line started by `spawn_progress`, if any.
fn stop_progress(ticker: Option<JoinHandle<()>>) {
    if let Some(ticker) = ticker {
        ticker.abort();
        eprintln!();
    }
}

/// A one-line progress bar on stderr, redrawn twice a second, when stderr is a terminal.
fn spawn_progress(done: Arc<AtomicU64>, start: Instant, goal: Goal) -> JoinHandle<()> {
    tokio::spawn(async move {
        if !std::io::stderr().is_terminal() {
            return;
        }
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tick.tick().await;
            let count = done.load(Ordering::Relaxed);
            let elapsed = start.elapsed();
            let fraction = match goal {
                Goal::Requests(total) => count as f64 / total.max(1) as f64,
                Goal::Time(limit) => elapsed.as_secs_f64() / limit.as_secs_f64().max(1e-9),
            }
            .clamp(0.0, 1.0);
            let filled = (fraction * 40.0) as usize;
            eprint!(
                "\r[{}{}] {:>3.0}% {count} done, {:.0}/s ",
                "#".repeat(filled),
                " ".repeat(40 - filled),
                fraction * 100.0,
                count as f64 / elapsed.as_secs_f64().max(1e-9),
            );
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_unit_is_in_range_and_spread() {
        let mut rng = Rng::seeded(7);
        let samples: Vec<f64> = (0..10_000).map(|_| rng.unit()).collect();
        assert!(samples.iter().all(|x| (0.0..1.0).contains(x)));
        let below_half = samples.iter().filter(|x| **x < 0.5).count();
        assert!((4_500..5_500).contains(&below_half), "{below_half}");
    }

    #[test]
    fn watch_values_carry_their_send_time() {
        let mut value = 1234u64.to_le_bytes().to_vec();
        value.resize(32, b'v');
        assert_eq!(sent_at(&value), Some(1234));
        assert_eq!(sent_at(b"short"), None);
    }
}
