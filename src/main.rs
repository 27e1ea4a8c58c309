//! `ringkv`: an etcd-compatible key-value server. See README.md.

use std::io::Write;
use std::process::ExitCode;

use ringkv::cli::{self, Invocation, Stream};
use ringkv::config::{LogLevel, ServerConfig, StartupError};
use ringkv::logging::{self, LogOutput};
use ringkv::server::{self, ServeOptions};

/// glibc malloc took ~20% of the server's CPU under put load: memory allocated on one core
/// is freed on another, which its arenas serialise. Built without transparent huge pages
/// (`no_thp` in Cargo.toml): faulting in a fresh 2 MiB page stalled whichever task
/// allocated for ~5 ms on a VM (the host backs guest memory on first touch), about ten
/// times per 100k puts, and the heap is too small for huge pages to matter otherwise.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Arguments and variables that are not UTF-8 cannot name an etcd flag or value; they are
    // read lossily so they reach the parser and fail there with etcd's message.
    let args = std::env::args_os().map(|a| a.to_string_lossy().into_owned());
    let vars = std::env::vars_os().map(|(k, v)| {
        (
            k.to_string_lossy().into_owned(),
            v.to_string_lossy().into_owned(),
        )
    });
    let parsed = match cli::parse(args, vars) {
        Ok(parsed) => parsed,
        Err(e) => return startup_failure(&e),
    };
    match parsed.invocation {
        Invocation::Print {
            text,
            exit_code,
            stream,
        } => {
            let _ = match stream {
                Stream::Stdout => std::io::stdout().write_all(text.as_bytes()),
                Stream::Stderr => std::io::stderr().write_all(text.as_bytes()),
            };
            exit_code_from(exit_code)
        }
        Invocation::Debug { part, path } => {
            use ringkv::debug::{Part, Verdict, store, wal};
            let out = &mut std::io::stdout().lock();
            let (printed, what) = match part {
                Part::Wal => (wal::print(&path, out), "the WAL of"),
                Part::Store(listing) => (store::print(&path, &listing, out), "the store file"),
            };
            match printed {
                Ok(Verdict::Clean) => ExitCode::SUCCESS,
                Ok(Verdict::Corrupt) => ExitCode::FAILURE,
                Err(e) => {
                    eprintln!("ringkv: cannot read {what} {}: {e}", path.display());
                    ExitCode::FAILURE
                }
            }
        }
        Invocation::SnapshotRestore(options) => match ringkv::restore::restore(&options) {
            Ok(restored) => {
                println!(
                    "restored snapshot {} into {} (member {:x}, revision {}, raft index {})",
                    options.file.display(),
                    restored.data_dir.display(),
                    restored.member_id,
                    restored.revision,
                    restored.index
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("Error: {e}");
                ExitCode::FAILURE
            }
        },
        Invocation::Server(config) => {
            let outputs: Vec<LogOutput> = config
                .log_outputs
                .iter()
                .map(|o| LogOutput::parse(o))
                .collect();
            if let Err(e) = logging::init(tracing_level(config.log_level), &outputs) {
                eprintln!(
                    "ringkv: cannot open log outputs {:?}: {e}",
                    config.log_outputs
                );
                return ExitCode::FAILURE;
            }
            for warning in &parsed.warnings {
                tracing::warn!("{warning}");
            }
            match server::serve(serve_options(&config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    logging::fatal("ringkv stopped", &e.to_string());
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// Flag syntax and verification errors print as etcd prints them; fatal start-up errors
/// are one zap-shaped JSON line, as etcd's zap logger writes them.
fn startup_failure(e: &StartupError) -> ExitCode {
    match e.stage() {
        ringkv::config::error::Stage::Fatal => {
            logging::fatal("failed to start ringkv", &e.to_string())
        }
        _ => eprint!("{}", e.stderr_text()),
    }
    exit_code_from(e.exit_code())
}

fn exit_code_from(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

fn tracing_level(level: LogLevel) -> tracing::Level {
    match level {
        LogLevel::Debug => tracing::Level::DEBUG,
        LogLevel::Info => tracing::Level::INFO,
        LogLevel::Warn => tracing::Level::WARN,
        LogLevel::Error | LogLevel::Panic | LogLevel::Fatal => tracing::Level::ERROR,
    }
}

fn serve_options(config: &ServerConfig) -> ServeOptions {
    ServeOptions {
        name: config.name.clone(),
        data_dir: config.data_dir.clone(),
        listen_clients: config
            .listen_client_urls
            .iter()
            .map(|url| {
                let host = url.host_str().unwrap_or_default();
                let port = url.port_or_known_default().unwrap_or(2379);
                (format!("{host}:{port}"), url.scheme() == "https")
            })
            .collect(),
        client_tls: config.client_tls(),
        auto_tls: config.auto_tls,
        cores: config.cores,
        initial_cluster: config
            .initial_cluster
            .iter()
            .map(|(name, url)| (name.clone(), ringkv::config::values::url_text(url)))
            .collect(),
        initial_cluster_token: config.initial_cluster_token.clone(),
        advertise_client_urls: config
            .advertise_client_urls
            .iter()
            .map(ringkv::config::values::url_text)
            .collect(),
        wal_dir: config.wal_dir.clone(),
        heartbeat_interval: config.heartbeat_interval,
        election_timeout: config.election_timeout,
        snapshot_count: config.snapshot_count,
        max_wals: usize::try_from(config.max_wals).unwrap_or(usize::MAX),
        grpc: config.grpc_connection(),
        limits: config.limits(),
        watch_progress_interval: config.experimental_watch_progress_notify_interval,
        compaction_pace: ringkv::store_jobs::CompactionPace {
            // etcd treats a limit <= 0 as "no limit".
            batch: usize::try_from(config.experimental_compaction_batch_limit)
                .ok()
                .filter(|&n| n > 0)
                .unwrap_or(usize::MAX),
            pause: config.experimental_compaction_sleep_interval,
        },
        // Validated with the other flags: an unparsable retention never gets here.
        auto_compaction: config.auto_compaction().ok().flatten(),
    }
}
