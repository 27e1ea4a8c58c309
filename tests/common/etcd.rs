//! The reference server (Debian `etcd-server`, `/usr/bin/etcd`) and the [`Target`] switch that
//! lets one end-to-end test run against real etcd and against ringkv.
//!
//! etcd cannot listen on port 0 and report what it got, so its client and peer ports are
//! probed free (bind `127.0.0.1:0`, release) just before it starts; if another process takes
//! one in between, etcd exits with "address already in use" and the start is retried on new
//! ports. Readiness is etcd's own "serving client traffic" log line (written after the member
//! has a leader and has published itself) followed by `/health` answering `true`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use super::{START_TIMEOUT, STOP_TIMEOUT, Server, base_args, forward_lines, wait_bounded};

pub const ETCD_BIN: &str = "/usr/bin/etcd";
pub const ETCDCTL_BIN: &str = "/usr/bin/etcdctl";

/// What one `etcdctl` run printed.
pub struct EtcdctlOutput {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the Debian `etcdctl` (v3) once against `endpoint` with `args`, feeding it `stdin`;
/// the test fails if it is still running after `limit` (it is then killed by its PID).
pub fn run_etcdctl(endpoint: &str, args: &[&str], stdin: &str, limit: Duration) -> EtcdctlOutput {
    let mut child = Command::new(ETCDCTL_BIN)
        .env_clear()
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={endpoint}"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn /usr/bin/etcdctl (Debian package etcd-client)");
    let mut input = child.stdin.take().expect("stdin is piped");
    let stdin = stdin.to_owned();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(stdin.as_bytes());
    });
    let read_all = |mut stream: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stream.read_to_string(&mut text);
            text
        })
    };
    let stdout = read_all(Box::new(child.stdout.take().expect("stdout is piped")));
    let stderr = read_all(Box::new(child.stderr.take().expect("stderr is piped")));
    let status = wait_bounded(&mut child, limit).unwrap_or_else(|| {
        let _ = child.kill();
        let _ = child.wait();
        panic!("etcdctl {args:?} still running after {limit:?}");
    });
    let _ = writer.join();
    EtcdctlOutput {
        code: status.code().unwrap_or(-1),
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

/// How many times a start is retried when a probed port was taken in the meantime.
const PORT_ATTEMPTS: usize = 5;

/// Which server a test drives. Every test in `tests/etcdctl.rs`, `tests/differential.rs` and
/// `tests/durability.rs` is written once against this switch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The reference: Debian's `etcd` 3.4.23.
    Etcd,
    /// The binary under test.
    Ringkv,
}

impl Target {
    /// Starts a fresh server of this kind on `data_dir` (created if missing), ready for clients.
    pub fn start(self, data_dir: &Path) -> TestServer {
        self.start_with(data_dir, &[])
    }

    /// As `start`, with extra flags both servers share (e.g. `--quota-backend-bytes`).
    pub fn start_with(self, data_dir: &Path, extra_args: &[&str]) -> TestServer {
        self.start_scheme(data_dir, "http", extra_args)
    }

    /// As `start_with`, with the client URL's scheme: `https` needs the TLS flags in
    /// `extra_args`.
    pub fn start_scheme(self, data_dir: &Path, scheme: &str, extra_args: &[&str]) -> TestServer {
        let extra_args: Vec<String> = extra_args.iter().map(|&a| a.to_owned()).collect();
        let inner = match self {
            Target::Etcd => Inner::Etcd(EtcdServer::start(data_dir, scheme, &extra_args)),
            Target::Ringkv => {
                let mut args = base_args(data_dir);
                for arg in &mut args {
                    if let Some(rest) = arg.strip_prefix("http://") {
                        *arg = format!("{scheme}://{rest}");
                    }
                }
                args.extend(extra_args.iter().cloned());
                Inner::Ringkv(Server::start(&args))
            }
        };
        TestServer {
            target: self,
            data_dir: data_dir.to_owned(),
            scheme: scheme.to_owned(),
            extra_args,
            inner,
            killed_log: String::new(),
        }
    }
}

enum Inner {
    Etcd(EtcdServer),
    Ringkv(Server),
    Stopped,
}

/// A running server of either kind; stopped (by PID) when dropped.
pub struct TestServer {
    pub target: Target,
    pub data_dir: PathBuf,
    scheme: String,
    extra_args: Vec<String>,
    inner: Inner,
    /// What the last process logged, once it was killed.
    killed_log: String,
}

impl TestServer {
    /// The client URL, e.g. `http://127.0.0.1:40123`.
    pub fn endpoint(&self) -> String {
        format!("{}://{}", self.scheme, self.client_addr())
    }

    pub fn client_addr(&self) -> SocketAddr {
        match &self.inner {
            Inner::Etcd(etcd) => etcd.client_addr,
            Inner::Ringkv(server) => server.client_addr,
            Inner::Stopped => panic!("server is stopped"),
        }
    }

    /// The server's process ID (to read its /proc entries).
    pub fn pid(&self) -> u32 {
        match &self.inner {
            Inner::Etcd(etcd) => etcd.child.as_ref().map_or(0, Child::id),
            Inner::Ringkv(server) => server.pid(),
            Inner::Stopped => panic!("server is stopped"),
        }
    }

    /// Everything the server logged so far (for failure messages).
    pub fn log(&mut self) -> String {
        match &mut self.inner {
            Inner::Etcd(etcd) => {
                etcd.drain_log();
                etcd.log.join("\n")
            }
            Inner::Ringkv(server) => server.log.join("\n"),
            Inner::Stopped => self.killed_log.clone(),
        }
    }

    /// SIGKILL: no chance to flush or clean up. Waits (bounded) until the process is gone;
    /// its log stays readable through [`TestServer::log`].
    pub fn kill(&mut self) {
        match std::mem::replace(&mut self.inner, Inner::Stopped) {
            Inner::Etcd(mut etcd) => {
                etcd.stop_with(libc::SIGKILL);
                etcd.drain_log();
                self.killed_log = etcd.log.join("\n");
            }
            Inner::Ringkv(mut server) => {
                server.stop_with(libc::SIGKILL);
                self.killed_log = server.log.join("\n");
            }
            Inner::Stopped => {}
        }
    }

    /// Starts the same kind of server again on the same data directory.
    pub fn restart(&mut self) {
        self.kill();
        let extra_args: Vec<&str> = self.extra_args.iter().map(String::as_str).collect();
        let restarted = self
            .target
            .start_scheme(&self.data_dir, &self.scheme, &extra_args);
        *self = restarted;
    }
}

/// A real etcd member started by a test; killed by PID when dropped.
pub struct EtcdServer {
    child: Option<Child>,
    lines: Receiver<String>,
    pub log: Vec<String>,
    pub client_addr: SocketAddr,
    pub peer_addr: SocketAddr,
}

impl EtcdServer {
    /// Starts a single-member etcd on `data_dir` with fresh loopback client and peer ports and
    /// `extra_args` appended to its command line.
    pub fn start(data_dir: &Path, scheme: &str, extra_args: &[String]) -> EtcdServer {
        let fresh = !data_dir.join("member").exists();
        let mut failures = Vec::new();
        for _ in 0..PORT_ATTEMPTS {
            let (client, peer) = free_port_pair();
            match EtcdServer::try_start(data_dir, scheme, client, peer, extra_args) {
                Ok(server) => return server,
                Err(log) if log.contains("address already in use") => {
                    // A bind failure happens before etcd writes its WAL, but make sure a retry
                    // bootstraps from scratch with the new peer URL.
                    if fresh {
                        let _ = std::fs::remove_dir_all(data_dir.join("member"));
                    }
                    failures.push(log);
                }
                Err(log) => panic!("etcd did not become ready; log:\n{log}"),
            }
        }
        panic!(
            "etcd hit a taken port {PORT_ATTEMPTS} times; last log:\n{}",
            failures.last().map_or("", String::as_str)
        );
    }

    fn try_start(
        data_dir: &Path,
        scheme: &str,
        client: SocketAddr,
        peer: SocketAddr,
        extra_args: &[String],
    ) -> Result<EtcdServer, String> {
        let client_url = format!("{scheme}://{client}");
        let peer_url = format!("http://{peer}");
        let mut child = Command::new(ETCD_BIN)
            .env_clear()
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--name", "default"])
            .args(["--listen-client-urls", &client_url])
            .args(["--advertise-client-urls", &client_url])
            .args(["--listen-peer-urls", &peer_url])
            .args(["--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("default={peer_url}")])
            .args(["--logger", "zap", "--log-outputs", "stderr"])
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn /usr/bin/etcd (Debian package etcd-server)");
        let lines = forward_lines(child.stderr.take().expect("stderr is piped"));
        let mut server = EtcdServer {
            child: Some(child),
            lines,
            log: Vec::new(),
            client_addr: client,
            peer_addr: peer,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        // The log line first: until then /health could be answered by whatever took the port.
        loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            match server.lines.recv_timeout(wait) {
                Ok(line) => {
                    let serving = line.contains("serving client traffic");
                    server.log.push(line);
                    if serving {
                        break;
                    }
                }
                // Disconnected: etcd exited (e.g. a port was taken). Timeout: give up.
                Err(_) => {
                    server.stop_with(libc::SIGKILL);
                    return Err(server.log.join("\n"));
                }
            }
        }
        // Over TLS the log line is the signal: the plain probe below cannot speak it.
        if scheme == "https" {
            return Ok(server);
        }
        while Instant::now() < deadline {
            if http_get_quiet(client, "/health").is_some_and(|body| body.contains("\"true\"")) {
                return Ok(server);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        server.stop_with(libc::SIGKILL);
        Err(format!(
            "/health never answered true\n{}",
            server.log.join("\n")
        ))
    }

    fn drain_log(&mut self) {
        while let Ok(line) = self.lines.try_recv() {
            self.log.push(line);
        }
    }

    /// Sends `signal` to the PID and waits (bounded) for the exit.
    pub fn stop_with(&mut self, signal: i32) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = i32::try_from(child.id()).expect("pid fits i32");
        // SAFETY: kill(2) on the PID of a child we spawned and have not yet reaped.
        unsafe { libc::kill(pid, signal) };
        if wait_bounded(&mut child, STOP_TIMEOUT).is_none() {
            let _ = child.kill();
            let _ = child.wait();
            panic!("etcd did not exit within {STOP_TIMEOUT:?} of signal {signal}");
        }
        self.drain_log();
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Two distinct loopback ports that were free a moment ago.
fn free_port_pair() -> (SocketAddr, SocketAddr) {
    let a = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let b = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    (
        a.local_addr().expect("local addr"),
        b.local_addr().expect("local addr"),
    )
}

/// One `GET` with `Connection: close`; `None` unless the answer is a 200 (refused, reset,
/// timed out and non-200 answers are all "not ready yet").
fn http_get_quiet(addr: SocketAddr, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_owned())
}
