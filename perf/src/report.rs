//! What a run measured: requests, errors by kind, wall time and the latency histogram, printed
//! as a table or as JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;

/// Latencies are recorded in nanoseconds, from 1 ns to a minute, at 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("static histogram bounds are valid")
}

#[derive(Debug, Clone)]
pub struct Report {
    /// Workload name, e.g. `put`.
    pub workload: String,
    /// Requests (or, for watch workloads, event deliveries) that succeeded.
    pub requests: u64,
    /// Failed requests by error kind (gRPC code and message, or transport error).
    pub errors: BTreeMap<String, u64>,
    pub elapsed: Duration,
    pub latency: Histogram<u64>,
}

/// Latency summary in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

impl Report {
    /// A report of `workload` with nothing recorded yet.
    pub fn empty(workload: &str) -> Report {
        Report {
            workload: workload.to_owned(),
            requests: 0,
            errors: BTreeMap::new(),
            elapsed: Duration::ZERO,
            latency: new_histogram(),
        }
    }

    /// Adds one client's (or stream's) measurements.
    pub fn add(&mut self, latency: &Histogram<u64>, requests: u64, errors: BTreeMap<String, u64>) {
        // Every histogram here has new_histogram's bounds, so add cannot fail.
        let _ = self.latency.add(latency);
        self.requests += requests;
        for (kind, count) in errors {
            *self.errors.entry(kind).or_default() += count;
        }
    }

    pub fn requests_per_second(&self) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 {
            self.requests as f64 / seconds
        } else {
            0.0
        }
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    pub fn percentiles(&self) -> Percentiles {
        let at = |q: f64| self.latency.value_at_quantile(q) as f64 / 1e9;
        Percentiles {
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            p999: at(0.999),
            max: self.latency.max() as f64 / 1e9,
            mean: self.latency.mean() / 1e9,
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        let p = self.percentiles();
        serde_json::json!({
            "workload": self.workload,
            "requests": self.requests,
            "errors": self.errors,
            "seconds": self.elapsed.as_secs_f64(),
            "requests_per_second": self.requests_per_second(),
            "latency_seconds": {
                "p50": p.p50, "p90": p.p90, "p99": p.p99, "p99.9": p.p999,
                "max": p.max, "mean": p.mean,
            },
        })
    }

    /// A human table, in the spirit of `benchmark`'s summary.
    pub fn table(&self) -> String {
        let p = self.percentiles();
        let mut out = String::new();
        let _ = writeln!(out, "Summary ({}):", self.workload);
        let _ = writeln!(out, "  Requests:     {}", self.requests);
        let _ = writeln!(out, "  Errors:       {}", self.error_count());
        let _ = writeln!(out, "  Total:        {:.4} s", self.elapsed.as_secs_f64());
        let _ = writeln!(out, "  Requests/sec: {:.1}", self.requests_per_second());
        let _ = writeln!(out, "Latency:");
        for (name, value) in [
            ("p50", p.p50),
            ("p90", p.p90),
            ("p99", p.p99),
            ("p99.9", p.p999),
            ("max", p.max),
            ("mean", p.mean),
        ] {
            let _ = writeln!(out, "  {name:<6} {:>10.3} ms", value * 1e3);
        }
        if !self.errors.is_empty() {
            let _ = writeln!(out, "Error distribution:");
            for (kind, count) in &self.errors {
                let _ = writeln!(out, "  [{count}] {kind}");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_numbers() {
        let mut latency = new_histogram();
        for ms in 1..=100u64 {
            latency.record(ms * 1_000_000).expect("in bounds");
        }
        let report = Report {
            workload: "put".into(),
            requests: 100,
            errors: BTreeMap::from([("Unavailable: x".to_owned(), 2)]),
            elapsed: Duration::from_secs(2),
            latency,
        };
        assert_eq!(report.requests_per_second(), 50.0);
        assert_eq!(report.error_count(), 2);
        let p = report.percentiles();
        assert!((p.p50 - 0.050).abs() < 0.001, "{p:?}");
        assert!((p.max - 0.100).abs() < 0.001, "{p:?}");
        let json = report.to_json();
        assert_eq!(json["requests"], 100);
        assert_eq!(json["errors"]["Unavailable: x"], 2);
        assert!(report.table().contains("Requests/sec: 50.0"));
    }
}
