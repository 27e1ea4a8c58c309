//! The side-by-side runner: each scenario against ringkv and the real etcd on the same
//! machine, fresh data dir and server per run, alternating servers over several rounds, with
//! each server's CPU time and memory read from /proc, and a ratio table (ringkv ÷ etcd).
//!
//! Rounds alternate the order ABBA (ringkv first in even rounds, etcd first in odd ones) so
//! neither server always runs on the warmer (or more throttled) machine.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use etcd_client::{Client, GetOptions};
use hdrhistogram::Histogram;

use crate::benchmark_tool;
use crate::driver;
use crate::plot::{self, BarGroup, Cdf};
use crate::report;
use crate::server::{self, Kind, Server};
use crate::workload::{Consistency, Job, KeyArgs, Load, RangeArgs, TxnPutArgs, WatchArgs};

/// Who sends the load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Driver {
    /// This crate's harness (the etcd-client crate).
    Harness,
    /// etcd's `benchmark` tool at this path.
    EtcdBenchmark(PathBuf),
}

impl Driver {
    pub fn name(&self) -> &'static str {
        match self {
            Driver::Harness => "ringkv-perf (etcd-client crate)",
            Driver::EtcdBenchmark(_) => "etcd tools/benchmark 3.4",
        }
    }
}

pub struct Options {
    pub ringkv: PathBuf,
    pub etcd: PathBuf,
    pub driver: Driver,
    pub rounds: usize,
    /// Scenario names to run; all when empty.
    pub only: Vec<String>,
    /// Divide every scenario's request count by this (a quick look, not a measurement).
    pub shrink: u64,
    /// Keys to load in the data-scale scenario; skipped when zero.
    pub data_scale_keys: u64,
    pub work_dir: PathBuf,
}

/// One named workload of the comparison.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: &'static str,
    pub job: Job,
    pub load: Load,
}

/// The README's table: etcd's benchmark-style workloads at the sizes etcd's docs use.
pub fn scenarios(shrink: u64) -> Vec<Scenario> {
    let shrink = shrink.max(1);
    let put_keys = KeyArgs {
        key_size: 8,
        val_size: 256,
        key_space_size: 100_000,
        sequential_keys: true,
    };
    let range = |consistency| {
        Job::Range(RangeArgs {
            key: RANGE_KEY.into(),
            end: None,
            consistency,
            limit: 0,
        })
    };
    // The watch target: 10k watchers, each on its own key, hearing 1k puts/s.
    let watch = WatchArgs {
        streams: 100,
        watchers_per_stream: 100,
        put_rate: 1000,
        put_total: 10_000 / shrink,
        key_size: 32,
        val_size: 32,
    };
    // All 10k watchers on one key: every put is 10k deliveries, so the rate is kept low.
    let fanout = WatchArgs {
        put_rate: 10,
        put_total: 100 / shrink.min(10),
        ..watch.clone()
    };
    vec![
        Scenario {
            name: "put 16 conns × 256 clients",
            job: Job::Put(put_keys.clone()),
            load: Load::new(16, 256, 100_000 / shrink),
        },
        Scenario {
            name: "put 1 conn × 1 client",
            job: Job::Put(put_keys.clone()),
            load: Load::new(1, 1, 5_000 / shrink),
        },
        Scenario {
            name: "range serializable 16 × 256",
            job: range(Consistency::Serializable),
            load: Load::new(16, 256, 100_000 / shrink),
        },
        Scenario {
            name: "range linearizable 16 × 256",
            job: range(Consistency::Linearizable),
            load: Load::new(16, 256, 100_000 / shrink),
        },
        Scenario {
            name: "txn-put 16 × 256",
            job: Job::TxnPut(TxnPutArgs {
                keys: put_keys,
                txn_ops: 1,
            }),
            load: Load::new(16, 256, 50_000 / shrink),
        },
        Scenario {
            name: "lease-keepalive 16 × 256",
            job: Job::LeaseKeepalive,
            load: Load::new(16, 256, 100_000 / shrink),
        },
        Scenario {
            name: "watch 100 streams × 100 watchers, 1k puts/s",
            job: Job::Watch(watch),
            load: Load::new(10, 1, 0),
        },
        Scenario {
            name: "watch-fanout 100 streams × 100 watchers, 10 puts/s",
            job: Job::WatchFanout(fanout),
            load: Load::new(10, 1, 0),
        },
    ]
}

/// The key range scenarios read, written (256 B value) before each run.
const RANGE_KEY: &str = "foo";

/// One run's numbers.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    pub requests: u64,
    pub errors: u64,
    pub requests_per_second: f64,
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    pub server_cpu: Duration,
    pub peak_rss: u64,
    /// The run's latency histogram (ns); only this crate's harness has one.
    pub latency: Option<Histogram<u64>>,
}

impl Sample {
    pub fn cpu_seconds_per_10k(&self) -> f64 {
        self.server_cpu.as_secs_f64() * 10_000.0 / self.requests.max(1) as f64
    }
}

/// A scenario's samples for each server.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub scenario: String,
    pub ringkv: Vec<Sample>,
    pub etcd: Vec<Sample>,
}

#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error(transparent)]
    Server(#[from] server::ServerError),
    #[error(transparent)]
    Drive(#[from] driver::DriveError),
    #[error(transparent)]
    Tool(#[from] benchmark_tool::ToolError),
    #[error(transparent)]
    Plot(#[from] plot::PlotError),
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    #[error("{0}")]
    Client(String),
}

/// Runs every selected scenario `rounds` times on each server. Progress goes to stderr.
pub fn run(
    options: &Options,
    runtime: &tokio::runtime::Runtime,
) -> Result<Vec<Outcome>, CompareError> {
    std::fs::create_dir_all(&options.work_dir)
        .map_err(|e| CompareError::Io(format!("create {}", options.work_dir.display()), e))?;
    let mut outcomes = Vec::new();
    for scenario in scenarios(options.shrink) {
        if !options.only.is_empty() && !options.only.iter().any(|o| scenario.name.contains(o)) {
            continue;
        }
        if let Driver::EtcdBenchmark(_) = options.driver
            && benchmark_tool::arguments(&scenario.job, &scenario.load, "x").is_none()
        {
            eprintln!(
                "skip {}: etcd's benchmark has no such workload",
                scenario.name
            );
            continue;
        }
        let mut outcome = Outcome {
            scenario: scenario.name.to_owned(),
            ringkv: Vec::new(),
            etcd: Vec::new(),
        };
        for round in 0..options.rounds.max(1) {
            let order = if round % 2 == 0 {
                [Kind::Ringkv, Kind::Etcd]
            } else {
                [Kind::Etcd, Kind::Ringkv]
            };
            for kind in order {
                let sample = run_once(options, runtime, &scenario, kind, round)?;
                eprintln!(
                    "{:<52} round {} {:<6} {:>9.0} req/s  p50 {:>7.3} ms  p99 {:>7.3} ms  \
                     cpu {:.3} s/10k  rss {:.0} MiB  errors {}",
                    scenario.name,
                    round + 1,
                    kind.name(),
                    sample.requests_per_second,
                    sample.p50 * 1e3,
                    sample.p99 * 1e3,
                    sample.cpu_seconds_per_10k(),
                    mib(sample.peak_rss),
                    sample.errors,
                );
                match kind {
                    Kind::Ringkv => outcome.ringkv.push(sample),
                    Kind::Etcd => outcome.etcd.push(sample),
                }
            }
        }
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

fn binary(options: &Options, kind: Kind) -> &Path {
    match kind {
        Kind::Ringkv => &options.ringkv,
        Kind::Etcd => &options.etcd,
    }
}

/// `label` as a file name: lowercase ASCII letters and digits, other runs turned into one `-`.
pub fn slug(label: &str) -> String {
    let mut slug = String::new();
    for c in label.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.trim_end_matches('-').to_owned()
}

fn fresh_dir(options: &Options, label: &str) -> Result<PathBuf, CompareError> {
    let dir = options.work_dir.join(slug(label));
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .map_err(|e| CompareError::Io(format!("remove {}", dir.display()), e))?;
    }
    Ok(dir)
}

fn run_once(
    options: &Options,
    runtime: &tokio::runtime::Runtime,
    scenario: &Scenario,
    kind: Kind,
    round: usize,
) -> Result<Sample, CompareError> {
    let dir = fresh_dir(
        options,
        &format!("{}-{}-{round}", scenario.name, kind.name()),
    )?;
    let mut server = Server::start(kind, binary(options, kind), &dir)?;
    let endpoint = server.endpoint();
    if let Job::Range(_) = scenario.job {
        runtime.block_on(put_once(&endpoint, RANGE_KEY, vec![b'v'; 256]))?;
    }
    let cpu_before = server.cpu_time().unwrap_or_default();
    let mut sample = match &options.driver {
        Driver::Harness => {
            let report = runtime.block_on(driver::run(
                &scenario.job,
                &scenario.load,
                std::slice::from_ref(&endpoint),
                false,
            ))?;
            let p = report.percentiles();
            Sample {
                requests: report.requests,
                errors: report.error_count(),
                requests_per_second: report.requests_per_second(),
                p50: p.p50,
                p99: p.p99,
                p999: p.p999,
                latency: Some(report.latency),
                ..Sample::default()
            }
        }
        Driver::EtcdBenchmark(bin) => {
            let summary = benchmark_tool::run(bin, &scenario.job, &scenario.load, &endpoint)?;
            Sample {
                requests: scenario.load.total.saturating_sub(summary.errors),
                errors: summary.errors,
                requests_per_second: summary.requests_per_second,
                p50: summary.p50,
                p99: summary.p99,
                p999: summary.p999,
                ..Sample::default()
            }
        }
    };
    sample.server_cpu = server
        .cpu_time()
        .unwrap_or_default()
        .saturating_sub(cpu_before);
    sample.peak_rss = server.memory().map_or(0, |m| m.peak_rss);
    server.stop();
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(sample)
}

async fn put_once(endpoint: &str, key: &str, value: Vec<u8>) -> Result<(), CompareError> {
    let mut client = Client::connect([endpoint], None)
        .await
        .map_err(|e| CompareError::Client(format!("connect {endpoint}: {e}")))?;
    client
        .put(key, value, None)
        .await
        .map_err(|e| CompareError::Client(format!("put {key}: {e}")))?;
    Ok(())
}

/// The data-scale scenario's numbers for one server.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScaleSample {
    pub keys: u64,
    pub load_requests_per_second: f64,
    pub rss_after_load: u64,
    pub disk_bytes: u64,
    pub restart_to_first_read: Duration,
    pub rss_after_restart: u64,
}

/// Loads `keys` keys (8 B, 256 B values) into a fresh server, then measures its memory and
/// disk footprint and how long a restart takes until the first linearizable read succeeds.
pub fn data_scale(
    options: &Options,
    runtime: &tokio::runtime::Runtime,
    kind: Kind,
) -> Result<ScaleSample, CompareError> {
    let keys = options.data_scale_keys;
    let dir = fresh_dir(options, &format!("data-scale-{}", kind.name()))?;
    let mut server = Server::start(kind, binary(options, kind), &dir)?;
    let load = Job::Put(KeyArgs {
        key_size: 8,
        val_size: 256,
        key_space_size: keys,
        sequential_keys: true,
    });
    let endpoint = server.endpoint();
    let report = runtime.block_on(driver::run(
        &load,
        &Load::new(16, 256, keys),
        std::slice::from_ref(&endpoint),
        true,
    ))?;
    if report.error_count() > 0 {
        return Err(CompareError::Client(format!(
            "loading {keys} keys into {}: {:?}",
            kind.name(),
            report.errors
        )));
    }
    let rss_after_load = server.memory().map_or(0, |m| m.rss);
    server.stop();
    let disk_bytes = server::disk_usage(&dir);
    let restarted = Instant::now();
    server.restart()?;
    runtime.block_on(linearizable_read(&endpoint))?;
    let restart_to_first_read = restarted.elapsed();
    let sample = ScaleSample {
        keys,
        load_requests_per_second: report.requests_per_second(),
        rss_after_load,
        disk_bytes,
        restart_to_first_read,
        rss_after_restart: server.memory().map_or(0, |m| m.rss),
    };
    server.stop();
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(sample)
}

/// The first linearizable read after a restart, retried (bounded) while the server warms up.
async fn linearizable_read(endpoint: &str) -> Result<(), CompareError> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let attempt = async {
            let mut client = Client::connect([endpoint], None).await?;
            client
                .get(RANGE_KEY, Some(GetOptions::new().with_count_only()))
                .await
        };
        match attempt.await {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() >= deadline => {
                return Err(CompareError::Client(format!("first read: {e}")));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// The median over rounds of one measure.
fn median_of(samples: &[Sample], f: fn(&Sample) -> f64) -> f64 {
    median(samples.iter().map(f).collect())
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// `a / b (×r)` with `digits` decimals.
fn pair(ringkv: f64, etcd: f64, digits: usize) -> String {
    let ratio = if etcd > 0.0 { ringkv / etcd } else { f64::NAN };
    format!("{ringkv:.digits$} / {etcd:.digits$} (×{ratio:.2})")
}

/// The Markdown table of medians over rounds: each cell `ringkv / etcd (×ratio)`.
pub fn markdown(outcomes: &[Outcome]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| workload | req/s | p50 ms | p99 ms | p99.9 ms | server CPU-s per 10k req | server peak RSS MiB | errors |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    for outcome in outcomes {
        let cell = |f: fn(&Sample) -> f64, digits| {
            pair(
                median_of(&outcome.ringkv, f),
                median_of(&outcome.etcd, f),
                digits,
            )
        };
        let errors = |samples: &[Sample]| samples.iter().map(|s| s.errors).sum::<u64>();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} / {} |",
            outcome.scenario,
            cell(|s| s.requests_per_second, 0),
            cell(|s| s.p50 * 1e3, 3),
            cell(|s| s.p99 * 1e3, 3),
            cell(|s| s.p999 * 1e3, 3),
            cell(Sample::cpu_seconds_per_10k, 3),
            cell(|s| mib(s.peak_rss), 0),
            errors(&outcome.ringkv),
            errors(&outcome.etcd),
        );
    }
    out
}

/// The data-scale table: one row per measure, ringkv / etcd (×ratio).
pub fn scale_markdown(ringkv: &ScaleSample, etcd: &ScaleSample) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| {} keys, 8 B keys, 256 B values | ringkv / etcd |",
        ringkv.keys
    );
    let _ = writeln!(out, "|---|---|");
    let rows = [
        (
            "load (put 16 × 256), req/s",
            pair(
                ringkv.load_requests_per_second,
                etcd.load_requests_per_second,
                0,
            ),
        ),
        (
            "RSS after load, MiB",
            pair(mib(ringkv.rss_after_load), mib(etcd.rss_after_load), 0),
        ),
        (
            "data dir on disk, MiB",
            pair(mib(ringkv.disk_bytes), mib(etcd.disk_bytes), 0),
        ),
        (
            "restart to first linearizable read, s",
            pair(
                ringkv.restart_to_first_read.as_secs_f64(),
                etcd.restart_to_first_read.as_secs_f64(),
                2,
            ),
        ),
        (
            "RSS after restart + one read, MiB",
            pair(
                mib(ringkv.rss_after_restart),
                mib(etcd.rss_after_restart),
                0,
            ),
        ),
    ];
    for (name, value) in rows {
        let _ = writeln!(out, "| {name} | {value} |");
    }
    out
}

/// The rounds' latency histograms added up, or `None` when no round has one (etcd's
/// `benchmark` as the driver).
fn merged_latency(samples: &[Sample]) -> Option<Histogram<u64>> {
    let mut merged: Option<Histogram<u64>> = None;
    for latency in samples.iter().filter_map(|s| s.latency.as_ref()) {
        // Every histogram here has new_histogram's bounds, so add cannot fail.
        let _ = merged
            .get_or_insert_with(report::new_histogram)
            .add(latency);
    }
    merged
}

/// Writes the charts for `--plots` into `dir` (created if missing) and returns their paths: per
/// scenario `<slug>-latency.svg`, the CDF of the histograms merged over all rounds (skipped
/// when the driver gave no histograms), plus `throughput.svg` and `cpu.svg`, grouped bars of
/// the medians over rounds (the Markdown table's numbers).
pub fn plots(outcomes: &[Outcome], dir: &Path) -> Result<Vec<PathBuf>, CompareError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| CompareError::Io(format!("create {}", dir.display()), e))?;
    let mut written = Vec::new();
    for outcome in outcomes {
        let servers = [("ringkv", &outcome.ringkv), ("etcd", &outcome.etcd)];
        let mut rounds = 0;
        let mut lines = Vec::new();
        for (name, samples) in servers {
            if let Some(latency) = merged_latency(samples) {
                rounds = rounds.max(samples.iter().filter(|s| s.latency.is_some()).count());
                lines.push(Cdf {
                    name: name.to_owned(),
                    points: plot::cdf_points(&latency),
                });
            }
        }
        if lines.is_empty() {
            continue;
        }
        let path = dir.join(format!("{}-latency.svg", slug(&outcome.scenario)));
        let title = format!(
            "{}: latency CDF, histograms merged over {rounds} round(s)",
            outcome.scenario
        );
        plot::latency_cdf(&path, &title, &lines)?;
        written.push(path);
    }
    let bars = |file: &str, title: &str, x_desc: &str, measure: fn(&Sample) -> f64, digits| {
        let groups: Vec<BarGroup> = outcomes
            .iter()
            .map(|o| BarGroup {
                label: o.scenario.clone(),
                values: vec![median_of(&o.ringkv, measure), median_of(&o.etcd, measure)],
            })
            .collect();
        let path = dir.join(file);
        plot::grouped_bars(&path, title, x_desc, &["ringkv", "etcd"], &groups, digits)
            .map(|()| path)
    };
    written.push(bars(
        "throughput.svg",
        "throughput, median over rounds (× = ringkv ÷ etcd)",
        "requests/s",
        |s| s.requests_per_second,
        0,
    )?);
    written.push(bars(
        "cpu.svg",
        "server CPU time, median over rounds (× = ringkv ÷ etcd)",
        "server CPU-seconds per 10k requests",
        Sample::cpu_seconds_per_10k,
        3,
    )?);
    Ok(written)
}

/// Every sample, for `--json`.
pub fn to_json(outcomes: &[Outcome]) -> serde_json::Value {
    let samples = |samples: &[Sample]| -> Vec<serde_json::Value> {
        samples
            .iter()
            .map(|s| {
                serde_json::json!({
                    "requests": s.requests,
                    "errors": s.errors,
                    "requests_per_second": s.requests_per_second,
                    "p50_seconds": s.p50,
                    "p99_seconds": s.p99,
                    "p999_seconds": s.p999,
                    "server_cpu_seconds": s.server_cpu.as_secs_f64(),
                    "server_peak_rss_bytes": s.peak_rss,
                })
            })
            .collect()
    };
    serde_json::Value::Array(
        outcomes
            .iter()
            .map(|o| {
                serde_json::json!({
                    "scenario": o.scenario,
                    "ringkv": samples(&o.ringkv),
                    "etcd": samples(&o.etcd),
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(Vec::new()), 0.0);
    }

    #[test]
    fn table_cells_are_ringkv_over_etcd() {
        let sample = |rps, cpu_ms| Sample {
            requests: 10_000,
            requests_per_second: rps,
            server_cpu: Duration::from_millis(cpu_ms),
            ..Sample::default()
        };
        let outcome = Outcome {
            scenario: "put".into(),
            ringkv: vec![
                sample(2000.0, 100),
                sample(4000.0, 300),
                sample(3000.0, 200),
            ],
            etcd: vec![sample(1000.0, 400)],
        };
        let table = markdown(&[outcome]);
        assert!(table.contains("| put | 3000 / 1000 (×3.00) |"), "{table}");
        assert!(table.contains("0.200 / 0.400 (×0.50)"), "{table}");
    }

    #[test]
    fn plots_of_outcomes() {
        let dir = std::env::temp_dir().join(format!("ringkv-perf-plots-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let sample = |rps, ms: u64| {
            let mut latency = report::new_histogram();
            for i in 1..=100 {
                latency.record(i * ms * 10_000).expect("in bounds");
            }
            Sample {
                requests: 10_000,
                requests_per_second: rps,
                server_cpu: Duration::from_millis(100),
                latency: Some(latency),
                ..Sample::default()
            }
        };
        let outcomes = [
            Outcome {
                scenario: "put 16 conns × 256 clients".into(),
                ringkv: vec![sample(2000.0, 1), sample(3000.0, 2)],
                etcd: vec![sample(1000.0, 3)],
            },
            // etcd's benchmark as the driver: no histograms, so no latency chart.
            Outcome {
                scenario: "range".into(),
                ringkv: vec![Sample::default()],
                etcd: Vec::new(),
            },
        ];
        let written = plots(&outcomes, &dir).expect("plots");
        let names: Vec<_> = written
            .iter()
            .filter_map(|p| p.file_name()?.to_str())
            .collect();
        assert_eq!(
            names,
            [
                "put-16-conns-256-clients-latency.svg",
                "throughput.svg",
                "cpu.svg"
            ]
        );
        let latency = std::fs::read_to_string(&written[0]).expect("written");
        assert!(latency.contains("merged over 2 round(s)"), "{latency}");
        // A missing folder is created; one that cannot be (under a file) is an error.
        let nested = dir.join("new").join("charts");
        assert_eq!(plots(&outcomes, &nested).expect("plots").len(), 3);
        assert!(plots(&outcomes, &written[0].join("x")).is_err());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn slugs() {
        assert_eq!(
            slug("watch 100 streams × 100 watchers, 1k puts/s"),
            "watch-100-streams-100-watchers-1k-puts-s"
        );
        assert_eq!(slug("  Put!"), "put");
    }

    #[test]
    fn every_scenario_has_a_distinct_name_and_work() {
        let all = scenarios(1);
        for (i, s) in all.iter().enumerate() {
            assert!(all[..i].iter().all(|o| o.name != s.name), "{}", s.name);
            assert!(
                all[..i].iter().all(|o| slug(o.name) != slug(s.name)),
                "{}",
                s.name
            );
            assert!(s.load.total > 0 || matches!(s.job, Job::WatchFanout(_) | Job::Watch(_)));
        }
    }
}
