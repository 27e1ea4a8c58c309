//! Measures the physical floor the WAL is judged against, on this disk: a 4 KiB overwrite of
//! already-written, preallocated space followed by fdatasync, through the page cache and with
//! O_DIRECT, plus the cost of handing the fdatasync to another thread. The numbers decide the
//! I/O backend (see the crate README). Run: `cargo run --release -p ringkv-wal --example sync_floor [dir]`.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BLOCK: usize = 4096;
const ROUNDS: usize = 1000;
const FILE_LEN: usize = 8 << 20;

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let n = samples.len();
    let mean = samples.iter().sum::<Duration>() / n as u32;
    println!(
        "{name:<44} mean {:>7.1} µs  p50 {:>7.1} µs  p99 {:>7.1} µs",
        mean.as_secs_f64() * 1e6,
        samples[n / 2].as_secs_f64() * 1e6,
        samples[n * 99 / 100].as_secs_f64() * 1e6
    );
}

/// A zero-filled, fully written and synced file, so later writes overwrite existing extents.
fn prepared(path: &std::path::Path) {
    let mut f = std::fs::File::create(path).unwrap();
    f.write_all(&vec![0u8; FILE_LEN]).unwrap();
    f.sync_all().unwrap();
}

/// A 4 KiB-aligned heap buffer for O_DIRECT.
struct Aligned(*mut u8, std::alloc::Layout);
// SAFETY: Aligned owns its allocation exclusively, like a Box<[u8]>.
unsafe impl Send for Aligned {}
impl Aligned {
    fn new(len: usize) -> Self {
        let layout = std::alloc::Layout::from_size_align(len, BLOCK).unwrap();
        // SAFETY: layout has non-zero size.
        let p = unsafe { std::alloc::alloc_zeroed(layout) };
        assert!(!p.is_null());
        Aligned(p, layout)
    }
    fn as_slice(&self) -> &[u8] {
        // SAFETY: p points to layout.size() initialised (zeroed) bytes owned by self.
        unsafe { std::slice::from_raw_parts(self.0, self.1.size()) }
    }
}
impl Drop for Aligned {
    fn drop(&mut self) {
        // SAFETY: allocated with this layout in new.
        unsafe { std::alloc::dealloc(self.0, self.1) }
    }
}

fn main() {
    let dir = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let path = dir.join("ringkv-sync-floor.tmp");
    prepared(&path);
    let buf = vec![0xa5u8; BLOCK];

    // Buffered overwrite + fdatasync.
    let f = OpenOptions::new().write(true).open(&path).unwrap();
    let mut s = Vec::new();
    for i in 0..ROUNDS {
        let t = Instant::now();
        f.write_all_at(&buf, ((i * BLOCK) % FILE_LEN) as u64)
            .unwrap();
        f.sync_data().unwrap();
        s.push(t.elapsed());
    }
    report("buffered 4 KiB overwrite + fdatasync", s);

    // Buffered small append (128 B) into preallocated space + fdatasync.
    let mut s = Vec::new();
    for i in 0..ROUNDS {
        let t = Instant::now();
        f.write_all_at(&buf[..128], (i * 128) as u64).unwrap();
        f.sync_data().unwrap();
        s.push(t.elapsed());
    }
    report("buffered 128 B append + fdatasync", s);

    // The same, with the fdatasync handed to a sync thread (what the WAL does so the raft core
    // never blocks): the extra cost is the two thread wake-ups.
    let (to_syncer, jobs) = mpsc::channel::<()>();
    let (done_tx, done) = mpsc::channel::<()>();
    let fc = f.try_clone().unwrap();
    let syncer = std::thread::spawn(move || {
        for () in jobs {
            fc.sync_data().unwrap();
            done_tx.send(()).unwrap();
        }
    });
    let mut s = Vec::new();
    for i in 0..ROUNDS {
        let t = Instant::now();
        f.write_all_at(&buf[..128], (i * 128) as u64).unwrap();
        to_syncer.send(()).unwrap();
        done.recv().unwrap();
        s.push(t.elapsed());
    }
    report("buffered 128 B append + fdatasync on thread", s);
    drop(to_syncer);
    syncer.join().unwrap();
    drop(f);

    // O_DIRECT overwrite + fdatasync.
    match OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_DIRECT)
        .open(&path)
    {
        Ok(f) => {
            let abuf = Aligned::new(BLOCK);
            let mut s = Vec::new();
            for i in 0..ROUNDS {
                let t = Instant::now();
                f.write_all_at(abuf.as_slice(), ((i * BLOCK) % FILE_LEN) as u64)
                    .unwrap();
                f.sync_data().unwrap();
                s.push(t.elapsed());
            }
            report("O_DIRECT 4 KiB overwrite + fdatasync", s);
            let mut s = Vec::new();
            for i in 0..ROUNDS {
                let t = Instant::now();
                f.write_all_at(abuf.as_slice(), ((i * BLOCK) % FILE_LEN) as u64)
                    .unwrap();
                s.push(t.elapsed());
            }
            report("O_DIRECT 4 KiB overwrite, no sync", s);
            // The backend the WAL uses: the O_DIRECT write and fdatasync run on an I/O thread.
            let (to_io, jobs) = mpsc::channel::<usize>();
            let (done_tx, done) = mpsc::channel::<()>();
            let io = std::thread::spawn(move || {
                for i in jobs {
                    f.write_all_at(abuf.as_slice(), ((i * BLOCK) % FILE_LEN) as u64)
                        .unwrap();
                    f.sync_data().unwrap();
                    done_tx.send(()).unwrap();
                }
            });
            let mut s = Vec::new();
            for i in 0..ROUNDS {
                let t = Instant::now();
                to_io.send(i).unwrap();
                done.recv().unwrap();
                s.push(t.elapsed());
            }
            report("O_DIRECT 4 KiB overwrite + fdatasync on thread", s);
            drop(to_io);
            io.join().unwrap();
        }
        Err(e) => println!("O_DIRECT unavailable here: {e}"),
    }

    // Sequential bandwidth: 1 MiB buffered writes over the preallocated file, one fdatasync.
    let f = OpenOptions::new().write(true).open(&path).unwrap();
    let big = vec![0x5au8; 1 << 20];
    let t = Instant::now();
    for i in 0..FILE_LEN / big.len() {
        f.write_all_at(&big, (i * big.len()) as u64).unwrap();
    }
    f.sync_data().unwrap();
    let secs = t.elapsed().as_secs_f64();
    println!(
        "sequential overwrite 8 MiB + fdatasync          {:>7.1} MiB/s",
        (FILE_LEN as f64 / (1 << 20) as f64) / secs
    );
    std::fs::remove_file(&path).unwrap();
}
