//! `ringkv debug store <data-dir>`: the store file's size, page use, tree shape, MVCC
//! position and a full structural check (every page reached once, keys in order, checksums
//! and overflow runs as their leaves say, nodes holding long keys as whole page runs). Read-only; refused while a server holds the file.

use std::io::{self, Write};
use std::path::Path;

use ringkv_store::PAGE_SIZE;
use ringkv_store::mvcc::Mvcc;

use super::Verdict;

/// Prints what `<data_dir>/member/snap/db` holds to `out`.
pub fn print(data_dir: &Path, out: &mut impl Write) -> io::Result<Verdict> {
    let path = data_dir.join("member/snap/db");
    // Opening creates a missing file: never do that to an operator's data dir.
    let len = std::fs::metadata(&path)?.len();
    writeln!(out, "store {} ({len} bytes)", path.display())?;
    let mvcc = match Mvcc::open(&path) {
        Ok(mvcc) => mvcc,
        Err(e) => {
            writeln!(out, "  cannot open: {e}")?;
            return Ok(Verdict::Corrupt);
        }
    };
    let read = mvcc.read();
    let (index, term) = read.consistent_index();
    writeln!(
        out,
        "  revision {}, compact revision {}, raft index {index} (term {term}) as of the last checkpoint; later WAL entries replay at start",
        read.revision(),
        read.compact_revision()
    )?;
    drop(read);
    match mvcc.db().check() {
        Ok(report) => {
            writeln!(
                out,
                "  pages {} of {PAGE_SIZE} bytes (dbSize {}), free {}, pending {} (dbSizeInUse {})",
                report.pages,
                mvcc.db_size(),
                report.free_pages,
                report.pending_pages,
                mvcc.db_size_in_use()
            )?;
            let t = &report.tree;
            writeln!(
                out,
                "  tree: {} branch, {} leaf, {} overflow pages; {} entries; height {}; {} nodes over one page (long keys)",
                t.branch_pages,
                t.leaf_pages,
                t.overflow_pages,
                t.keys,
                t.height,
                t.multi_page_nodes
            )?;
            writeln!(out, "  check: ok")?;
            Ok(Verdict::Clean)
        }
        Err(e) => {
            writeln!(out, "  check: FAILED: {e}")?;
            Ok(Verdict::Corrupt)
        }
    }
}
