//! Starting and stopping the real `ringkv` binary for end-to-end tests.
//!
//! Servers listen on port 0 and report the port they got in their "serving client
//! traffic" log line, so tests never race another process for a port. Every wait is
//! bounded, and every process is stopped by its PID when its handle drops.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

pub mod etcd;
#[allow(unused_imports)] // not every test binary drives both targets
pub use etcd::{Target, TestServer};

/// Instantiates each `fn name(target: Target)` in the calling test file twice: `etcd::name`
/// and `ringkv::name`. With `ignore_ringkv = "reason";` first, the ringkv instances are
/// `#[ignore]`d; delete that line in a test file to turn its ringkv tests on (or run them now
/// with `cargo nextest run --run-ignored all`).
#[macro_export]
macro_rules! for_both_targets {
    (ignore_ringkv = $reason:literal; $($name:ident),+ $(,)?) => {
        $crate::for_both_targets!(@ringkv_attr [ignore = $reason] $($name),+);
    };
    ($($name:ident),+ $(,)?) => {
        // `any()` is never true: no attribute at all.
        $crate::for_both_targets!(@ringkv_attr [cfg_attr(any(), ignore)] $($name),+);
    };
    (@ringkv_attr [$ringkv_attr:meta] $($name:ident),+) => {
        mod etcd {
            $(
                #[test]
                fn $name() {
                    super::$name($crate::common::Target::Etcd)
                }
            )+
        }
        mod ringkv {
            $(
                #[test]
                #[$ringkv_attr]
                fn $name() {
                    super::$name($crate::common::Target::Ringkv)
                }
            )+
        }
    };
}

/// Generous: CI shares 2 cores between the build, the tests and the servers.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);
pub const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// The binary under test: this build's `ringkv`, or `$RINGKV_TEST_BIN` if set (e.g.
/// `target/release/ringkv` for a measurement run).
pub fn ringkv_bin() -> String {
    std::env::var("RINGKV_TEST_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_ringkv").to_owned())
}

/// A fresh, empty scratch directory unique to this test.
pub fn scratch_dir(test: &str) -> PathBuf {
    static SWEEP: std::sync::Once = std::sync::Once::new();
    SWEEP.call_once(remove_scratch_of_finished_tests);
    let dir = std::env::temp_dir().join(format!("{SCRATCH_PREFIX}{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

const SCRATCH_PREFIX: &str = "ringkv-e2e-";

/// Scratch dirs hold 64 MiB preallocated WAL segments: every run would leave gigabytes
/// behind. Each dir ends in its test process's ID; those of processes that are gone are
/// removed (the newest failure's dir is usually still there when a run ends; set
/// `RINGKV_KEEP_SCRATCH=1` to keep them all).
fn remove_scratch_of_finished_tests() {
    if std::env::var_os("RINGKV_KEEP_SCRATCH").is_some() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let pid = name
            .strip_prefix(SCRATCH_PREFIX)
            .and_then(|rest| rest.rsplit('-').next())
            .and_then(|pid| pid.parse::<u32>().ok());
        if let Some(pid) = pid
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The flags every test server gets: its own data dir, loopback on a kernel-chosen port.
pub fn base_args(data_dir: &Path) -> Vec<String> {
    vec![
        "--data-dir".into(),
        data_dir.display().to_string(),
        "--listen-client-urls".into(),
        "http://127.0.0.1:0".into(),
        "--advertise-client-urls".into(),
        "http://127.0.0.1:2379".into(),
        // Every CPU (the default leaves one out), so requests cross cores as on a big box.
        "--cores".into(),
        all_cpus().to_string(),
    ]
}

/// The CPUs this process may run on.
pub fn all_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

pub struct Server {
    child: Option<Child>,
    lines: Receiver<String>,
    pub log: Vec<String>,
    pub client_addr: SocketAddr,
}

impl Server {
    /// Starts `ringkv` with `args` and a cleared environment, and waits until it is ready.
    pub fn start(args: &[String]) -> Server {
        Server::start_with_env(args, &[])
    }

    /// As `start`, with these environment variables set.
    pub fn start_with_env(args: &[String], env: &[(&str, &str)]) -> Server {
        let mut command = Command::new(ringkv_bin());
        command.args(args).env_clear().envs(env.iter().copied());
        Server::start_command(command)
    }

    /// Starts a prepared `ringkv` command (stdio is set here) and waits until it is ready.
    pub fn start_command(mut command: Command) -> Server {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ringkv");
        let lines = forward_lines(child.stderr.take().expect("stderr is piped"));
        let mut server = Server {
            child: Some(child),
            lines,
            log: Vec::new(),
            client_addr: "0.0.0.0:0".parse().expect("literal address"),
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let line = server.next_line(deadline).unwrap_or_else(|| {
                panic!(
                    "ringkv did not become ready; log:\n{}",
                    server.log.join("\n")
                )
            });
            if line.contains("serving client traffic") {
                let json: serde_json::Value =
                    serde_json::from_str(&line).expect("log lines are JSON");
                server.client_addr = json["address"]
                    .as_str()
                    .expect("address field")
                    .parse()
                    .expect("socket address");
            }
            if line.contains("ready to serve client requests") {
                return server;
            }
        }
    }

    fn next_line(&mut self, deadline: Instant) -> Option<String> {
        let wait = deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(wait) {
            Ok(line) => {
                self.log.push(line.clone());
                Some(line)
            }
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => None,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Sends `signal` and waits (bounded) for the process to exit.
    pub fn stop_with(&mut self, signal: i32) -> ExitStatus {
        let mut child = self.child.take().expect("server still running");
        let pid = i32::try_from(child.id()).expect("pid fits i32");
        // SAFETY: kill(2) on the PID of a child we spawned and have not yet reaped.
        unsafe { libc::kill(pid, signal) };
        let status = wait_bounded(&mut child, STOP_TIMEOUT);
        // Keep the rest of the log for assertions.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.log.push(line);
        }
        status.unwrap_or_else(|| {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ringkv did not exit within {STOP_TIMEOUT:?} of signal {signal}");
        })
    }

    pub fn stop(&mut self) -> ExitStatus {
        self.stop_with(libc::SIGTERM)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs `ringkv` to completion (it is expected to exit by itself) and returns its exit
/// status and stderr. Killed if it is still running after `STOP_TIMEOUT`.
pub fn run_to_exit(args: &[String]) -> (ExitStatus, String) {
    let mut child = Command::new(ringkv_bin())
        .args(args)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ringkv");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let status = wait_bounded(&mut child, STOP_TIMEOUT).unwrap_or_else(|| {
        let _ = child.kill();
        let _ = child.wait();
        panic!("ringkv was expected to exit on its own but was still running");
    });
    (status, reader.join().unwrap_or_default())
}

/// Polls `child` until it exits or `timeout` passes.
pub fn wait_bounded(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn forward_lines(stream: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Sends raw bytes and reads until the server closes the connection (bounded).
pub fn exchange(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("set timeout");
    stream.write_all(request).expect("write request");
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    response
}

/// One HTTP/1.1 GET with `Connection: close`; returns (status, body).
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let raw = exchange(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// A differential run: `script` against a fresh real etcd (the reference), then against a
/// fresh `target`, each in its own data dir under `dir`; both transcripts are written
/// there. Panics at the first line that differs, with the lines before it.
pub fn assert_same_transcript(
    target: Target,
    dir: &Path,
    script: impl Fn(&TestServer) -> Vec<String>,
) -> Vec<String> {
    let reference = Target::Etcd.start(&dir.join("reference"));
    let expected = script(&reference);
    drop(reference);
    let server = target.start(&dir.join("target"));
    let actual = script(&server);
    drop(server);

    std::fs::write(dir.join("reference.txt"), expected.join("\n")).expect("write transcript");
    std::fs::write(dir.join("target.txt"), actual.join("\n")).expect("write transcript");
    let first_difference = expected
        .iter()
        .zip(&actual)
        .position(|(e, a)| e != a)
        .or_else(|| (expected.len() != actual.len()).then(|| expected.len().min(actual.len())));
    if let Some(i) = first_difference {
        let context = i.saturating_sub(3)..i;
        panic!(
            "transcripts differ at line {i} (full transcripts in {}):\n\
             context:\n{}\nreference etcd: {}\n{target:?}:{}{}",
            dir.display(),
            expected[context].join("\n"),
            expected.get(i).map_or("<end>", String::as_str),
            " ".repeat(15 - format!("{target:?}").len()),
            actual.get(i).map_or("<end>", String::as_str),
        );
    }
    actual
}

/// An `etcd-client` connection to `server` with bounded connect and request timeouts.
pub async fn connect_client(server: &TestServer) -> etcd_client::Client {
    let options = etcd_client::ConnectOptions::new()
        .with_connect_timeout(Duration::from_secs(10))
        .with_timeout(Duration::from_secs(30));
    etcd_client::Client::connect([server.endpoint()], Some(options))
        .await
        .expect("connect")
}

/// How long a test waits for a watch stream's next response.
pub const WATCH_RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);

/// A watch stream's next response; the test fails if none comes in time.
pub async fn watch_message(stream: &mut etcd_client::WatchStream) -> etcd_client::WatchResponse {
    tokio::time::timeout(WATCH_RESPONSE_TIMEOUT, stream.message())
        .await
        .unwrap_or_else(|_| panic!("no watch response within {WATCH_RESPONSE_TIMEOUT:?}"))
        .expect("watch stream error")
        .expect("watch stream ended")
}

/// Runs `future` to completion on a fresh single-threaded tokio runtime (for etcd-client).
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(future)
}
