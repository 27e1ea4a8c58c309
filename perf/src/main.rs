//! `ringkv-perf`: the load harness (`ringkv-perf put …`) and the side-by-side runner
//! (`ringkv-perf compare`). See the README's Benchmarks section.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use ringkv_perf::compare::{self, Driver, Options};
use ringkv_perf::driver;
use ringkv_perf::server::Kind;
use ringkv_perf::workload::{Job, Load};

#[derive(Parser)]
#[command(
    name = "ringkv-perf",
    about = "Load harness for etcd-compatible endpoints, and ringkv vs etcd side by side"
)]
struct Cli {
    /// gRPC endpoints, comma separated.
    #[arg(
        long,
        global = true,
        default_value = "127.0.0.1:2379",
        value_delimiter = ','
    )]
    endpoints: Vec<String>,
    /// Print the report as JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
    #[command(flatten)]
    load: Load,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    #[command(flatten)]
    Workload(Job),
    /// Run ringkv and the real etcd side by side; print the ratio table (Markdown).
    Compare(CompareArgs),
}

#[derive(Args)]
struct CompareArgs {
    /// The ringkv binary (default: `ringkv` next to this program).
    #[arg(long)]
    ringkv: Option<PathBuf>,
    /// The etcd binary.
    #[arg(long, default_value = "/usr/bin/etcd")]
    etcd: PathBuf,
    /// Drive with etcd's own `benchmark` tool at this path instead of this harness.
    #[arg(long)]
    etcd_benchmark: Option<PathBuf>,
    /// Rounds per scenario and server (medians are reported).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Only scenarios whose name contains one of these (comma separated), e.g. `put,range`.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Divide request counts by this: a quick look, not a measurement.
    #[arg(long, default_value_t = 1)]
    shrink: u64,
    /// Also run the data-scale scenario with this many keys (e.g. 1000000).
    #[arg(long, default_value_t = 0)]
    data_scale: u64,
    /// Skip the workload scenarios (with --data-scale: only the data-scale one).
    #[arg(long)]
    no_workloads: bool,
    /// Where the fresh data dirs go (each removed after its run).
    #[arg(long, default_value_os_t = std::env::temp_dir().join("ringkv-perf"))]
    work_dir: PathBuf,
    /// Where to write every sample as JSON (`--json` prints it instead of the table).
    #[arg(long)]
    json_out: Option<PathBuf>,
    /// Write SVG charts into this directory (created if missing): per scenario a latency CDF
    /// `<scenario>-latency.svg`, plus `throughput.svg` and `cpu.svg`.
    #[arg(long, value_name = "DIR")]
    plots: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("ringkv-perf: tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match &cli.command {
        Command::Workload(job) => drive(&cli, job, &runtime),
        Command::Compare(args) => compare_main(args, cli.json, &runtime),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("ringkv-perf: {message}");
            ExitCode::FAILURE
        }
    }
}

fn drive(cli: &Cli, job: &Job, runtime: &tokio::runtime::Runtime) -> Result<(), String> {
    let report = runtime
        .block_on(driver::run(job, &cli.load, &cli.endpoints, !cli.json))
        .map_err(|e| e.to_string())?;
    if cli.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.table());
    }
    Ok(())
}

fn compare_main(
    args: &CompareArgs,
    json: bool,
    runtime: &tokio::runtime::Runtime,
) -> Result<(), String> {
    let ringkv = match &args.ringkv {
        Some(path) => path.clone(),
        None => std::env::current_exe()
            .map_err(|e| format!("locate this program: {e}"))?
            .with_file_name("ringkv"),
    };
    let driver = args
        .etcd_benchmark
        .clone()
        .map_or(Driver::Harness, Driver::EtcdBenchmark);
    for (what, path) in [("ringkv", &ringkv), ("etcd", &args.etcd)] {
        if !path.exists() {
            return Err(format!(
                "{what} binary {} not found (build ringkv with `cargo build --release`; etcd is \
                 Debian's etcd-server package)",
                path.display()
            ));
        }
    }
    let options = Options {
        ringkv,
        etcd: args.etcd.clone(),
        driver,
        rounds: args.rounds,
        only: args.only.clone(),
        shrink: args.shrink,
        data_scale_keys: args.data_scale,
        work_dir: args.work_dir.clone(),
    };
    eprintln!(
        "driver: {}; {} round(s), fresh data dir and server per run",
        options.driver.name(),
        options.rounds
    );
    if !args.no_workloads {
        let outcomes = compare::run(&options, runtime).map_err(|e| e.to_string())?;
        if let Some(path) = &args.json_out {
            std::fs::write(path, compare::to_json(&outcomes).to_string())
                .map_err(|e| format!("write {}: {e}", path.display()))?;
        }
        if let Some(dir) = &args.plots {
            let written = compare::plots(&outcomes, dir).map_err(|e| e.to_string())?;
            eprintln!("wrote {} chart(s) in {}", written.len(), dir.display());
        }
        if json {
            println!("{}", compare::to_json(&outcomes));
        } else {
            println!(
                "\nDriver: {}. Cells: ringkv / etcd (×ratio), medians of {} rounds.\n",
                options.driver.name(),
                options.rounds
            );
            print!("{}", compare::markdown(&outcomes));
        }
    }
    if options.data_scale_keys > 0 {
        let ringkv =
            compare::data_scale(&options, runtime, Kind::Ringkv).map_err(|e| e.to_string())?;
        let etcd = compare::data_scale(&options, runtime, Kind::Etcd).map_err(|e| e.to_string())?;
        println!();
        print!("{}", compare::scale_markdown(&ringkv, &etcd));
    }
    Ok(())
}
