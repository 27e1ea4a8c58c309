//! `ringkv-perf`: not built yet (see the "perf" issue). Exits 2 so scripts cannot mistake
//! it for a measurement.

fn main() {
    eprintln!(
        "ringkv-perf: the load harness is not built yet; workloads will be: {}",
        ringkv_perf::workload::Workload::ALL
            .map(|w| w.name())
            .join(", ")
    );
    std::process::exit(2);
}
