//! The floor under a put from one client (put 1×1) on this machine: the least any server
//! can do per request, timed from the client. A client thread sends a 320-byte request over
//! loopback TCP and waits for a 64-byte answer; a server thread reads it, makes it durable
//! (a 4 KiB O_DIRECT overwrite of written space, then fdatasync, as the WAL does) and
//! answers. No framing, no parsing, no Raft, no store: plain blocking calls. It also times
//! the same round trip without the disk, and the disk alone. ringkv's put 1×1 p50 is judged
//! against these (README, "Against the targets").
//! Run: `cargo run --release -p ringkv-wal --example request_floor [dir]`. Set
//! `RINGKV_FLOOR_SERVER_CPU=<cpu>` to pin the server thread (and the disk-only loop) the way
//! ringkv pins its raft core, to the CPU that takes the disk's completion interrupts, and
//! `RINGKV_FLOOR_PACE_MS=<ms>` to send a request every that many milliseconds instead of
//! back to back (a paced client, as the watch benchmark's puts, finds the server idle).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::time::{Duration, Instant};

const BLOCK: usize = 4096;
const ROUNDS: usize = 3000;
const WARMUP: usize = 300;
const REQUEST: usize = 320;
const ANSWER: usize = 64;

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let n = samples.len();
    println!(
        "{name:<40} p50 {:>7.1} µs  p90 {:>7.1} µs  p99 {:>7.1} µs",
        samples[n / 2].as_secs_f64() * 1e6,
        samples[n * 9 / 10].as_secs_f64() * 1e6,
        samples[n * 99 / 100].as_secs_f64() * 1e6
    );
}

/// A 4 KiB-aligned block for O_DIRECT, leaked: the example runs once.
fn aligned_block() -> &'static [u8] {
    let layout = std::alloc::Layout::from_size_align(BLOCK, BLOCK).expect("valid layout");
    // SAFETY: the layout has a non-zero size.
    let p = unsafe { std::alloc::alloc_zeroed(layout) };
    assert!(!p.is_null(), "out of memory");
    // SAFETY: p points to BLOCK zeroed bytes that are never freed or written again.
    unsafe { std::slice::from_raw_parts(p, BLOCK) }
}

/// A file of written (not just allocated) blocks, opened O_DIRECT, so each write is a pure
/// overwrite as in a WAL segment.
fn prepared(path: &std::path::Path) -> File {
    let mut f = File::create(path).expect("create the scratch file");
    f.write_all(&vec![0u8; 1 << 20]).expect("fill it");
    f.sync_all().expect("sync it");
    OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
        .expect("O_DIRECT (this example needs a disk file system, not tmpfs)")
}

fn pin_to(cpu: usize) {
    // SAFETY: cpu_set_t is plain data; zeroed is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: cpu is below CPU_SETSIZE for any machine this runs on; pid 0 is this thread.
    unsafe {
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// Times ROUNDS request/answer round trips; the server makes each request durable first
/// when `file` is given.
fn round_trips(
    file: Option<File>,
    server_cpu: Option<usize>,
    pace: Option<Duration>,
) -> Vec<Duration> {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("local address");
    let server = std::thread::spawn(move || {
        if let Some(cpu) = server_cpu {
            pin_to(cpu);
        }
        let block = aligned_block();
        let (mut conn, _) = listener.accept().expect("accept");
        conn.set_nodelay(true).expect("nodelay");
        let mut request = [0u8; REQUEST];
        while conn.read_exact(&mut request).is_ok() {
            if let Some(f) = &file {
                f.write_all_at(block, 0).expect("write");
                f.sync_data().expect("fdatasync");
            }
            conn.write_all(&[0u8; ANSWER]).expect("answer");
        }
    });
    let mut conn = TcpStream::connect(addr).expect("connect");
    conn.set_nodelay(true).expect("nodelay");
    let mut answer = [0u8; ANSWER];
    let mut samples = Vec::with_capacity(ROUNDS);
    let start = Instant::now();
    for i in 0..WARMUP + ROUNDS {
        if let Some(pace) = pace {
            let due = start + pace * i as u32;
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        let t = Instant::now();
        conn.write_all(&[1u8; REQUEST]).expect("request");
        conn.read_exact(&mut answer).expect("answer");
        if i >= WARMUP {
            samples.push(t.elapsed());
        }
    }
    drop(conn);
    server.join().expect("server thread");
    samples
}

fn main() {
    let dir = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let server_cpu = std::env::var("RINGKV_FLOOR_SERVER_CPU")
        .ok()
        .and_then(|v| v.parse().ok());
    let pace = std::env::var("RINGKV_FLOOR_PACE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_millis);
    let path = dir.join("ringkv-request-floor.tmp");

    report("loopback round trip", round_trips(None, server_cpu, pace));

    let f = prepared(&path);
    let (f, disk) = std::thread::spawn(move || {
        if let Some(cpu) = server_cpu {
            pin_to(cpu);
        }
        let block = aligned_block();
        let mut disk = Vec::with_capacity(ROUNDS);
        for _ in 0..ROUNDS {
            let t = Instant::now();
            f.write_all_at(block, 0).expect("write");
            f.sync_data().expect("fdatasync");
            disk.push(t.elapsed());
        }
        (f, disk)
    })
    .join()
    .expect("disk thread");
    report("4 KiB O_DIRECT overwrite + fdatasync", disk);

    report(
        "round trip with the durable write",
        round_trips(Some(f), server_cpu, pace),
    );
    std::fs::remove_file(&path).expect("remove the scratch file");
}
