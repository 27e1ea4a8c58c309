//! The load harness and the side-by-side runner (`ringkv-perf`) end to end, against this
//! build's ringkv and the reference etcd (Debian `etcd-server`): every workload and load flag
//! of the harness against each server; every scenario of the README's table, shrunk to a few
//! hundred requests, one round each, then the Markdown table and the SVG plots; and the
//! data-scale scenario (load, footprint, restart until the first linearizable read) at a
//! small key count. They assert behaviour (every request answered, no errors, every column
//! measured, pacing never above its rate), never speed: the numbers are the README's.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::Target;
use ringkv_perf::compare::{self, Driver, Options, Sample};
use ringkv_perf::driver;
use ringkv_perf::server::Kind;
use ringkv_perf::workload::{
    Consistency, Job, KeyArgs, Load, RangeArgs, TxnMixedArgs, TxnPutArgs, WatchArgs,
};

for_both_targets!(every_workload_and_load_flag_drives_the_server);

/// Divides the README's request counts: put and range run 1 000 requests, watch 100 puts.
const SHRINK: u64 = 100;
const DATA_SCALE_KEYS: u64 = 2_000;

fn options(work_dir: PathBuf, data_scale_keys: u64) -> Options {
    Options {
        ringkv: PathBuf::from(common::ringkv_bin()),
        etcd: PathBuf::from(common::etcd::ETCD_BIN),
        driver: Driver::Harness,
        rounds: 1,
        only: Vec::new(),
        shrink: SHRINK,
        data_scale_keys,
        work_dir,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn assert_measured(scenario: &str, server: &str, sample: &Sample) {
    let what = format!("{scenario} on {server}");
    assert_eq!(sample.errors, 0, "{what}: errors");
    assert!(sample.requests > 0, "{what}: no requests counted");
    assert!(sample.requests_per_second > 0.0, "{what}: no throughput");
    assert!(
        sample.p50 > 0.0 && sample.p50 <= sample.p99 && sample.p99 <= sample.p999,
        "{what}: percentiles out of order: {} {} {}",
        sample.p50,
        sample.p99,
        sample.p999
    );
    assert!(sample.latency.is_some(), "{what}: no latency histogram");
    assert!(sample.peak_rss > 0, "{what}: no server memory read");
}

fn svg(path: &Path) -> String {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read plot {}: {e}", path.display()));
    assert!(text.contains("<svg"), "{} is not an SVG", path.display());
    text
}

fn keys(key_space_size: u64, sequential_keys: bool) -> KeyArgs {
    KeyArgs {
        key_size: 8,
        val_size: 64,
        key_space_size,
        sequential_keys,
    }
}

fn watch(streams: usize, watchers_per_stream: usize, put_total: u64) -> WatchArgs {
    WatchArgs {
        streams,
        watchers_per_stream,
        put_rate: 200,
        put_total,
        key_size: 32,
        val_size: 32,
    }
}

fn every_workload_and_load_flag_drives_the_server(target: Target) {
    let dir = common::scratch_dir(&format!("perf-workloads-{target:?}"));
    let server = target.start(&dir);
    let endpoints = [server.endpoint()];
    let range = |end: Option<&str>, consistency, limit| {
        Job::Range(RangeArgs {
            key: "\0".into(),
            end: end.map(str::to_owned),
            consistency,
            limit,
        })
    };
    // (job, load, the requests or deliveries it must count)
    let runs = [
        (Job::Put(keys(50, true)), Load::new(2, 8, 200), 200),
        (Job::Put(keys(1_000, false)), Load::new(1, 4, 100), 100),
        (
            range(Some("\u{ff}"), Consistency::Linearizable, 5),
            Load::new(2, 8, 100),
            100,
        ),
        (
            range(None, Consistency::Serializable, 0),
            Load::new(1, 2, 50),
            50,
        ),
        (
            // A txn's puts never repeat a key (etcd refuses that), in either key order.
            Job::TxnPut(TxnPutArgs {
                keys: keys(100, true),
                txn_ops: 3,
            }),
            Load::new(2, 4, 60),
            60,
        ),
        (
            Job::TxnPut(TxnPutArgs {
                keys: keys(100, false),
                txn_ops: 3,
            }),
            Load::new(2, 4, 60),
            60,
        ),
        (
            Job::TxnMixed(TxnMixedArgs {
                keys: keys(100, false),
                rw_ratio: 1.0,
                limit: 10,
            }),
            Load::new(2, 4, 80),
            80,
        ),
        (Job::LeaseKeepalive, Load::new(2, 4, 80), 80),
        // Each put reaches the one watcher of its key.
        (Job::Watch(watch(2, 3, 30)), Load::new(2, 1, 0), 30),
        // Each put reaches every watcher.
        (Job::WatchFanout(watch(2, 3, 5)), Load::new(2, 1, 0), 5 * 6),
    ];
    for (job, load, expected) in runs {
        let what = format!("{job:?} with {load:?}");
        let report = common::block_on(driver::run(&job, &load, &endpoints, false))
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(report.errors.len(), 0, "{what}: {:?}", report.errors);
        assert_eq!(report.requests, expected, "{what}");
        assert_eq!(
            report.latency.len(),
            expected,
            "{what}: one latency per request"
        );
        let table = report.table();
        assert!(
            table.contains(&format!("Requests:     {expected}")),
            "{table}"
        );
        assert_eq!(report.to_json()["requests"], expected, "{what}");
    }

    // --duration and --rate: the run stops on time, and pacing never runs ahead of the rate.
    let load = Load {
        duration: Some(Duration::from_millis(300)),
        rate: 200,
        ..Load::new(1, 4, 0)
    };
    let report = common::block_on(driver::run(
        &Job::Put(keys(10, true)),
        &load,
        &endpoints,
        false,
    ))
    .expect("paced put");
    assert_eq!(report.errors.len(), 0, "{:?}", report.errors);
    assert!(report.requests > 0, "nothing sent in 300 ms");
    let allowed = 200.0 * report.elapsed.as_secs_f64() + 1.0;
    assert!(
        report.requests as f64 <= allowed,
        "{} requests in {:?} at --rate 200",
        report.requests,
        report.elapsed
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_scenario_runs_against_both_servers_into_the_table_and_plots() {
    let dir = common::scratch_dir("perf-compare");
    let options = options(dir.join("data"), 0);
    let runtime = runtime();

    let outcomes = compare::run(&options, &runtime).expect("compare run");

    let scenarios = compare::scenarios(SHRINK);
    assert_eq!(
        outcomes
            .iter()
            .map(|o| o.scenario.as_str())
            .collect::<Vec<_>>(),
        scenarios.iter().map(|s| s.name).collect::<Vec<_>>(),
        "one outcome per scenario, in the table's order"
    );
    for outcome in &outcomes {
        assert_eq!(
            outcome.ringkv.len(),
            1,
            "{}: ringkv rounds",
            outcome.scenario
        );
        assert_eq!(outcome.etcd.len(), 1, "{}: etcd rounds", outcome.scenario);
        assert_measured(&outcome.scenario, "ringkv", &outcome.ringkv[0]);
        assert_measured(&outcome.scenario, "etcd", &outcome.etcd[0]);
    }
    // CPU time comes in clock ticks (10 ms), which a short scenario may not reach; summed
    // over the table it must show on both servers.
    for (server, cpu) in [
        (
            "ringkv",
            outcomes
                .iter()
                .map(|o| o.ringkv[0].server_cpu)
                .sum::<Duration>(),
        ),
        (
            "etcd",
            outcomes
                .iter()
                .map(|o| o.etcd[0].server_cpu)
                .sum::<Duration>(),
        ),
    ] {
        assert!(!cpu.is_zero(), "no CPU time read for {server}");
    }

    let table = compare::markdown(&outcomes);
    for scenario in &scenarios {
        // A row per scenario; its cells are not checked: a short scenario's CPU time can
        // round to zero clock ticks, and its ratio is then NaN.
        assert!(
            table
                .lines()
                .any(|line| line.starts_with(&format!("| {} |", scenario.name))),
            "no row for {} in\n{table}",
            scenario.name
        );
    }

    let json = compare::to_json(&outcomes);
    let entries = json.as_array().expect("a JSON array");
    assert_eq!(entries.len(), scenarios.len());
    for (entry, scenario) in entries.iter().zip(&scenarios) {
        assert_eq!(entry["scenario"], scenario.name);
        for server in ["ringkv", "etcd"] {
            let sample = &entry[server][0];
            assert_eq!(sample["errors"], 0, "{}: {server}", scenario.name);
            assert!(sample["p999_seconds"].as_f64().is_some_and(|p| p > 0.0));
        }
    }

    let plots = compare::plots(&outcomes, &dir.join("plots")).expect("plots");
    assert_eq!(
        plots.len(),
        scenarios.len() + 2,
        "a latency CDF per scenario, plus throughput and CPU: {plots:?}"
    );
    for path in &plots {
        let text = svg(path);
        assert!(
            text.contains("ringkv") && text.contains("etcd"),
            "{} names both servers",
            path.display()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_data_scale_scenario_loads_measures_and_restarts_both_servers() {
    let dir = common::scratch_dir("perf-data-scale");
    let options = options(dir.clone(), DATA_SCALE_KEYS);
    let runtime = runtime();

    let ringkv = compare::data_scale(&options, &runtime, Kind::Ringkv).expect("ringkv");
    let etcd = compare::data_scale(&options, &runtime, Kind::Etcd).expect("etcd");

    for (server, sample) in [("ringkv", &ringkv), ("etcd", &etcd)] {
        assert_eq!(sample.keys, DATA_SCALE_KEYS, "{server}");
        assert!(sample.load_requests_per_second > 0.0, "{server}: load rate");
        assert!(sample.rss_after_load > 0, "{server}: memory after load");
        assert!(
            sample.rss_after_restart > 0,
            "{server}: memory after restart"
        );
        // 2 000 × 256 B of values: whatever the layout, the data dir holds at least them.
        assert!(
            sample.disk_bytes >= DATA_SCALE_KEYS * 256,
            "{server}: {} bytes on disk",
            sample.disk_bytes
        );
        assert!(!sample.restart_to_first_read.is_zero(), "{server}: restart");
    }
    let table = compare::scale_markdown(&ringkv, &etcd);
    assert!(
        table.contains(&format!("{DATA_SCALE_KEYS} keys")),
        "{table}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
