//! Arbitrary bytes as a store file: opening it, `check`, and a scan of every table may fail
//! with an error but must never panic, hang or read outside the map.

#![no_main]

use std::sync::atomic::{AtomicU64, Ordering};

use libfuzzer_sys::fuzz_target;
use ringkv_store::{Db, Table};

static RUN: AtomicU64 = AtomicU64::new(0);

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!(
        "ringkv-store-fuzz-{}-{}.db",
        std::process::id(),
        RUN.fetch_add(1, Ordering::Relaxed)
    ));
    if std::fs::write(&path, data).is_err() {
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
