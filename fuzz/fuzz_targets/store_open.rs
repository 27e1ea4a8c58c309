//! Arbitrary bytes as a store file: opening it, `check`, and a scan of every table may fail
//! with an error but must never panic, hang or read outside the map. An input starting with
//! an odd byte is taken raw; otherwise it is a list of `(offset u32, xor u8)` patches (and a
//! cut) over a valid store built once, so the fuzzer gets past the meta checksums into the
//! tree and freelist decoders.

#![no_main]

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use libfuzzer_sys::fuzz_target;
use ringkv_store::{Db, Table};

static RUN: AtomicU64 = AtomicU64::new(0);

fn temp_path() -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "ringkv-store-fuzz-{}-{}.db",
        std::process::id(),
        RUN.fetch_add(1, Ordering::Relaxed)
    ))
}

/// A small valid store: a few hundred keys over two durable commits, one overflow value, and
/// two long keys, so nodes spanning several pages are in the file to damage.
fn valid_file() -> &'static [u8] {
    static FILE: OnceLock<Vec<u8>> = OnceLock::new();
    FILE.get_or_init(|| {
        let path = temp_path();
        {
            let db = Db::open(&path).expect("fresh store opens");
            for round in 0..2u32 {
                let mut w = db.begin_write().expect("writer");
                for i in 0..300u32 {
                    let v = vec![round as u8; (i as usize * 7) % 180];
                    w.insert(Table::DEFAULT, format!("key{i:04}").as_bytes(), &v).expect("insert");
                }
                w.insert(Table::DEFAULT, b"big", &[5u8; 9000]).expect("insert");
                w.insert(Table::DEFAULT, &[b'l'; 9000], b"long").expect("insert");
                w.insert(Table::DEFAULT, &[b'm'; 5000], b"longer").expect("insert");
                w.commit(true).expect("commit");
            }
        }
        let bytes = std::fs::read(&path).expect("read back");
        let _ = std::fs::remove_file(&path);
        bytes
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let bytes = if mode & 1 == 1 {
        rest.to_vec()
    } else {
        let mut file = valid_file().to_vec();
        for patch in rest.chunks_exact(5) {
            let at = u32::from_le_bytes([patch[0], patch[1], patch[2], patch[3]]) as usize;
            if at < file.len() {
                file[at] ^= patch[4];
            }
        }
        if mode & 2 == 2 {
            let cut = usize::from(mode) * file.len() / 256;
            file.truncate(cut);
        }
        file
    };
    let path = temp_path();
    if std::fs::write(&path, &bytes).is_err() {
        return;
    }
    if let Ok(db) = Db::open(&path) {
        let _ = db.check();
        let read = db.begin_read();
        for t in 0..Table::COUNT as u8 {
            let Some(table) = Table::new(t) else { continue };
            let _ = read.get(table, b"k");
            if let Ok(cursor) = read.range(table, b"", None) {
                // Bounded: a corrupt file can make a DAG whose scan is exponentially long.
                for item in cursor.take(10_000) {
                    if item.is_err() {
                        break;
                    }
                }
            }
        }
        drop(read);
        // The writer must cope too: a small write on whatever opened.
        if let Ok(mut w) = db.begin_write() {
            let _ = w.insert(Table::DEFAULT, b"fuzz", b"value");
            let _ = w.remove(Table::DEFAULT, b"k");
        }
    }
    let _ = std::fs::remove_file(&path);
});
