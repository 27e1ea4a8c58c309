//! Starting the servers under comparison on fresh data dirs and free loopback ports, and
//! reading their CPU time and memory from /proc.
//!
//! Both get the same etcd flags (ringkv takes etcd's), one member, the client and peer
//! ports probed free just before the start; a start that loses its port to another process
//! is retried on new ones.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const START_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(20);
const PORT_ATTEMPTS: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Ringkv,
    Etcd,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Ringkv => "ringkv",
            Kind::Etcd => "etcd",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("start {bin}: {source}")]
    Spawn {
        bin: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} did not become healthy within {START_TIMEOUT:?} (log: {1})")]
    NotReady(&'static str, PathBuf),
    #[error("{0} exited during start-up (log: {1})")]
    Exited(&'static str, PathBuf),
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
}

/// A running server; killed (by PID) when dropped.
pub struct Server {
    pub kind: Kind,
    pub data_dir: PathBuf,
    pub client_addr: SocketAddr,
    bin: PathBuf,
    log_path: PathBuf,
    peer_addr: SocketAddr,
    child: Option<Child>,
}

impl Server {
    /// Starts `kind` from `bin` on `data_dir` (created; reused if it holds data) and waits
    /// until `/health` answers `true`.
    pub fn start(kind: Kind, bin: &Path, data_dir: &Path) -> Result<Server, ServerError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| ServerError::Io(format!("create {}", data_dir.display()), e))?;
        let mut last = None;
        for _ in 0..PORT_ATTEMPTS {
            let (client_addr, peer_addr) = free_port_pair()?;
            let mut server = Server {
                kind,
                data_dir: data_dir.to_owned(),
                client_addr,
                bin: bin.to_owned(),
                log_path: data_dir.with_extension("log"),
                peer_addr,
                child: None,
            };
            match server.spawn_and_wait() {
                Ok(()) => return Ok(server),
                Err(ServerError::Exited(..)) if server.log_says("address already in use") => {
                    last = Some(ServerError::Exited(kind.name(), server.log_path.clone()));
                }
                Err(other) => return Err(other),
            }
        }
        Err(last.unwrap_or(ServerError::NotReady(kind.name(), data_dir.to_owned())))
    }

    /// Stops the server (SIGTERM, bounded wait, then SIGKILL) and starts it again on the same
    /// data dir and ports; returns once it is healthy.
    pub fn restart(&mut self) -> Result<(), ServerError> {
        self.stop();
        self.spawn_and_wait()
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.client_addr)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// CPU time (user + system) the server has used so far.
    pub fn cpu_time(&self) -> Option<Duration> {
        self.pid().and_then(cpu_time)
    }

    /// Resident set size now, and its peak, in bytes.
    pub fn memory(&self) -> Option<Memory> {
        self.pid().and_then(memory)
    }

    /// Stops by PID: SIGTERM, a bounded wait, then SIGKILL.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(pid) = i32::try_from(child.id()) {
            // SAFETY: kill(2) on the PID of a child we spawned and have not reaped.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    fn spawn_and_wait(&mut self) -> Result<(), ServerError> {
        let client_url = format!("http://{}", self.client_addr);
        let peer_url = format!("http://{}", self.peer_addr);
        let log = std::fs::File::create(&self.log_path)
            .map_err(|e| ServerError::Io(format!("create {}", self.log_path.display()), e))?;
        let child = Command::new(&self.bin)
            .env_clear()
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["--name", "default"])
            .args(["--listen-client-urls", &client_url])
            .args(["--advertise-client-urls", &client_url])
            .args(["--listen-peer-urls", &peer_url])
            .args(["--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("default={peer_url}")])
            .args(["--logger", "zap", "--log-level", "warn"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|source| ServerError::Spawn {
                bin: self.bin.clone(),
                source,
            })?;
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(_)) = child.try_wait()
            {
                self.child = None;
                return Err(ServerError::Exited(self.kind.name(), self.log_path.clone()));
            }
            if healthy(self.client_addr) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stop();
        Err(ServerError::NotReady(
            self.kind.name(),
            self.log_path.clone(),
        ))
    }

    fn log_says(&self, needle: &str) -> bool {
        std::fs::read_to_string(&self.log_path).is_ok_and(|log| log.contains(needle))
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    pub rss: u64,
    pub peak_rss: u64,
}

/// utime + stime of `pid` from /proc/PID/stat.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_cpu_ticks(&stat).map(|ticks| {
        // SAFETY: sysconf has no preconditions.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        Duration::from_nanos(ticks.saturating_mul(1_000_000_000) / per_second)
    })
}

/// Fields 14 and 15 (utime, stime) of a /proc/PID/stat line; the command name (field 2) may
/// hold spaces and parentheses, so fields are counted after its closing `)`.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// VmRSS and VmHWM of `pid` from /proc/PID/status.
pub fn memory(pid: u32) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_memory(&status)
}

fn parse_memory(status: &str) -> Option<Memory> {
    let kib = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line[name.len()..].split_whitespace().next()?.parse().ok()
    };
    Some(Memory {
        rss: kib("VmRSS:")? * 1024,
        peak_rss: kib("VmHWM:")? * 1024,
    })
}

/// Bytes under `path` (files only, not following links).
pub fn disk_usage(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(t) if t.is_dir() => disk_usage(&entry.path()),
            Ok(t) if t.is_file() => entry
                .metadata()
                .map_or(0, |m| std::os::unix::fs::MetadataExt::blocks(&m) * 512),
            _ => 0,
        })
        .sum()
}

fn free_port_pair() -> Result<(SocketAddr, SocketAddr), ServerError> {
    let probe_error = |e| ServerError::Io("probe a free loopback port".into(), e);
    // Both listeners are held at once, so the two ports differ.
    let a = TcpListener::bind("127.0.0.1:0").map_err(probe_error)?;
    let b = TcpListener::bind("127.0.0.1:0").map_err(probe_error)?;
    Ok((
        a.local_addr().map_err(probe_error)?,
        b.local_addr().map_err(probe_error)?,
    ))
}

/// `GET /health` answers 200 with `"health":"true"`.
fn healthy(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.starts_with("HTTP/1.1 200") && response.contains("\"true\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_skip_a_command_name_with_spaces() {
        let stat = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 \
                    250 50 0 0 20 0 4 0 1000 2000000 500 18446744073709551615";
        assert_eq!(parse_cpu_ticks(stat), Some(300));
        assert_eq!(parse_cpu_ticks("garbage"), None);
    }

    #[test]
    fn memory_from_status() {
        let status = "Name:\tetcd\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n";
        assert_eq!(
            parse_memory(status),
            Some(Memory {
                rss: 10 << 20,
                peak_rss: 20 << 20
            })
        );
    }

    #[test]
    fn this_process_has_cpu_time_and_memory() {
        let me = std::process::id();
        assert!(cpu_time(me).is_some());
        assert!(memory(me).is_some_and(|m| m.rss > 0));
    }
}
