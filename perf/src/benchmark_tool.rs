//! etcd's own load generator (`go.etcd.io/etcd/tools/benchmark`) as a second, independent
//! driver: the same jobs translated to its command line, its summary parsed back.
//! `../shared/tools/build-etcd-benchmark.sh` builds it offline from Debian's etcd sources.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::workload::{Job, Load};

/// What one `benchmark` run printed, in our terms.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub requests_per_second: f64,
    pub total: Duration,
    /// Seconds.
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    pub errors: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("etcd's benchmark has no equivalent of {0} here")]
    Unsupported(&'static str),
    #[error("run {0}: {1}")]
    Spawn(String, std::io::Error),
    #[error("benchmark exited with {status}: {stderr}")]
    Failed { status: String, stderr: String },
    #[error("benchmark output has no {0:?}:\n{1}")]
    Unparsed(&'static str, String),
}

/// `benchmark`'s arguments for `job` under `load`, or `None` if it has no such workload.
pub fn arguments(job: &Job, load: &Load, endpoint: &str) -> Option<Vec<String>> {
    let endpoint = endpoint
        .trim_start_matches("http://")
        .trim_start_matches("https://");
    let mut args = vec![
        format!("--endpoints={endpoint}"),
        format!("--conns={}", load.conns),
        format!("--clients={}", load.clients),
        // Full precision: by default the tool prints latencies to 0.1 ms, which rounds put
        // 1×1's 0.256 ms to 0.0003 s.
        "--precise".to_owned(),
    ];
    let total = format!("--total={}", load.total);
    let rate = format!("--rate={}", load.rate);
    match job {
        Job::Put(keys) => {
            args.extend([
                "put".to_owned(),
                total,
                rate,
                format!("--key-size={}", keys.key_size),
                format!("--val-size={}", keys.val_size),
                format!("--key-space-size={}", keys.key_space_size),
            ]);
            if keys.sequential_keys {
                args.push("--sequential-keys".into());
            }
        }
        Job::Range(range) => {
            args.extend([
                "range".to_owned(),
                range.key.clone(),
                total,
                rate,
                format!("--consistency={}", range.consistency.flag()),
            ]);
            if let Some(end) = &range.end {
                args.push(end.clone());
            }
            if range.limit != 0 {
                // 3.4's `range` has no --limit; refuse rather than measure something else.
                return None;
            }
        }
        Job::TxnPut(txn) => args.extend([
            "txn-put".to_owned(),
            total,
            rate,
            format!("--key-size={}", txn.keys.key_size),
            format!("--val-size={}", txn.keys.val_size),
            format!("--key-space-size={}", txn.keys.key_space_size),
            format!("--txn-ops={}", txn.txn_ops),
        ]),
        Job::LeaseKeepalive => args.extend(["lease-keepalive".to_owned(), total]),
        // watch-latency reports put latency and its watch numbers in another shape; the
        // harness measures watch delivery itself.
        Job::TxnMixed(_) | Job::Watch(_) | Job::WatchFanout(_) => return None,
    }
    Some(args)
}

/// Runs `bin` on `job` against `endpoint` and parses its summary.
pub fn run(bin: &Path, job: &Job, load: &Load, endpoint: &str) -> Result<Summary, ToolError> {
    let args =
        arguments(job, load, endpoint).ok_or(ToolError::Unsupported(job.workload().name()))?;
    let output = Command::new(bin)
        .args(&args)
        .output()
        .map_err(|e| ToolError::Spawn(bin.display().to_string(), e))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        return Err(ToolError::Failed {
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    parse(&stdout)
}

/// Parses `benchmark`'s report: `Requests/sec:`, `Total:` and the latency distribution
/// (`50% in 0.0011 secs.`), plus the error distribution's counts.
pub fn parse(output: &str) -> Result<Summary, ToolError> {
    let field = |name: &'static str| -> Result<f64, ToolError> {
        output
            .lines()
            .find_map(|line| {
                let rest = line.trim().strip_prefix(name)?;
                rest.trim().trim_end_matches("secs.").trim().parse().ok()
            })
            .ok_or_else(|| ToolError::Unparsed(name, output.to_owned()))
    };
    let errors = output
        .split("Error distribution:")
        .nth(1)
        .map_or(0, |section| {
            section
                .lines()
                .filter_map(|line| {
                    let count = line.trim().strip_prefix('[')?.split(']').next()?;
                    count.parse::<u64>().ok()
                })
                .sum()
        });
    let total = field("Total:")?;
    Ok(Summary {
        requests_per_second: field("Requests/sec:")?,
        total: Duration::try_from_secs_f64(total).unwrap_or_default(),
        p50: field("50% in")?,
        p99: field("99% in")?,
        p999: field("99.9% in")?,
        errors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::{Consistency, KeyArgs, RangeArgs};

    const OUTPUT: &str = "\
Summary:
  Total:\t3.0296 secs.
  Slowest:\t0.0488 secs.
  Fastest:\t0.0004 secs.
  Average:\t0.0077 secs.
  Stddev:\t0.0038 secs.
  Requests/sec:\t33007.6419

Response time histogram:
  0.0004 [1]\t|

Latency distribution:
  10% in 0.0043 secs.
  25% in 0.0056 secs.
  50% in 0.0071 secs.
  75% in 0.0092 secs.
  90% in 0.0117 secs.
  95% in 0.0138 secs.
  99% in 0.0197 secs.
  99.9% in 0.0343 secs.

Error distribution:
  [3]\trpc error: code = Unavailable
  [2]\tcontext deadline exceeded
";

    #[test]
    fn parses_the_summary() {
        let summary = parse(OUTPUT).expect("parses");
        assert_eq!(summary.requests_per_second, 33007.6419);
        assert_eq!(summary.p50, 0.0071);
        assert_eq!(summary.p99, 0.0197);
        assert_eq!(summary.p999, 0.0343);
        assert_eq!(summary.errors, 5);
        assert!(matches!(parse("nothing"), Err(ToolError::Unparsed(..))));
    }

    #[test]
    fn parses_full_precision_latencies() {
        let precise = OUTPUT
            .replace("50% in 0.0071 secs.", "50% in 0.000255827 secs.")
            .replace("99% in 0.0197 secs.", "99% in 0.000697242 secs.");
        let summary = parse(&precise).expect("parses");
        assert_eq!(summary.p50, 0.000255827);
        assert_eq!(summary.p99, 0.000697242);
        assert_eq!(summary.p999, 0.0343);
    }

    #[test]
    fn translates_jobs() {
        let put = Job::Put(KeyArgs {
            key_size: 8,
            val_size: 256,
            key_space_size: 100_000,
            sequential_keys: true,
        });
        let args = arguments(&put, &Load::new(16, 256, 1000), "http://127.0.0.1:1").expect("put");
        assert_eq!(
            args.join(" "),
            "--endpoints=127.0.0.1:1 --conns=16 --clients=256 --precise put --total=1000 \
             --rate=0 --key-size=8 --val-size=256 --key-space-size=100000 --sequential-keys"
        );
        let range = Job::Range(RangeArgs {
            key: "foo".into(),
            end: None,
            consistency: Consistency::Serializable,
            limit: 0,
        });
        let args = arguments(&range, &Load::new(1, 1, 5), "127.0.0.1:1").expect("range");
        assert!(args.contains(&"--consistency=s".to_owned()));
    }
}
