//! What the WAL benches share.

use ringkv_wal::blocks::Blocks;
use ringkv_wal::{FileDir, Log, SnapshotMark};

/// A snapshot marker at the last index, then a purge: what lets the server's log bound its
/// disk use, so segments are recycled in the benches as in the server (one small record per
/// batch, made durable by the next sync).
pub fn mark_and_purge(log: &mut Log<FileDir>) {
    let mark = SnapshotMark {
        index: log.last_index(),
        term: 1,
        conf_state: vec![],
    };
    log.save_snapshot(mark).unwrap();
    log.purge().unwrap();
}

/// `len` zero bytes in block-aligned memory, as an O_DIRECT write needs them.
pub fn zeroed_blocks(len: usize) -> Blocks {
    let mut b = Blocks::new();
    b.resize_zeroed(len);
    b
}
