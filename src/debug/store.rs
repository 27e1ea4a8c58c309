//! `ringkv debug store <data-dir>` and `ringkv debug db <file>`: a store file's size, page
//! use, tree shape, MVCC position and a full structural check (every page reached once, keys
//! in order, checksums and overflow runs as their leaves say, nodes holding long keys as
//! whole page runs); on request every page run (`--pages`) and the live keys at a revision
//! (`--keys --rev N --prefix P`). Read-only; refused while a server holds the file.

use std::io::{self, Write};
use std::path::Path;

use ringkv_store::mvcc::{KeyValue, Mvcc};
use ringkv_store::{PAGE_SIZE, PageHeld, PageInfo};

use super::Verdict;

/// What to list besides the summary and the check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    pub pages: bool,
    /// List live keys at (revision, 0 = latest) starting with the prefix.
    pub keys: Option<(i64, String)>,
}

/// Prints what the store file at `path` holds to `out`.
pub fn print(path: &Path, listing: &Listing, out: &mut impl Write) -> io::Result<Verdict> {
    // Opening creates a missing file: never do that to an operator's data dir.
    let len = std::fs::metadata(path)?.len();
    writeln!(out, "store {} ({len} bytes)", path.display())?;
    let mvcc = match Mvcc::open(path) {
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
        }
        Err(e) => {
            writeln!(out, "  check: FAILED: {e}")?;
            return Ok(Verdict::Corrupt);
        }
    }
    if listing.pages {
        print_pages(&mvcc, out)?;
    }
    if let Some((revision, prefix)) = &listing.keys {
        return print_keys(&mvcc, *revision, prefix.as_bytes(), out);
    }
    Ok(Verdict::Clean)
}

/// One line per page run; neighbouring free pages, and pages freed by the same
/// transaction, share a line.
fn print_pages(mvcc: &Mvcc, out: &mut impl Write) -> io::Result<()> {
    let pages = match mvcc.db().pages() {
        Ok(pages) => pages,
        Err(e) => return writeln!(out, "  pages: cannot list: {e}"),
    };
    writeln!(out, "  pages:")?;
    let mut i = 0;
    while let Some(first) = pages.get(i) {
        let mut last = first.id + first.pages - 1;
        if matches!(first.held, PageHeld::Free | PageHeld::Pending { .. }) {
            while let Some(next) = pages.get(i + 1).filter(|p| p.held == first.held) {
                last = next.id + next.pages - 1;
                i += 1;
            }
        }
        let ids = if last == first.id {
            first.id.to_string()
        } else {
            format!("{}-{last}", first.id)
        };
        writeln!(out, "    {ids:<15} {}", describe(first))?;
        i += 1;
    }
    Ok(())
}

fn describe(page: &PageInfo) -> String {
    match &page.held {
        PageHeld::Meta => "meta".into(),
        PageHeld::Branch { children } => format!("branch, {children} children"),
        PageHeld::Leaf { entries } => format!("leaf, {entries} entries"),
        PageHeld::Overflow { bytes } => format!("overflow value, {bytes} bytes"),
        PageHeld::Freelist { entries } => format!("freelist, {entries} entries"),
        PageHeld::Free => "free".into(),
        PageHeld::Pending { freed_by } => format!("pending, freed by txn {freed_by}"),
        PageHeld::Unreadable { reason } => format!("UNREADABLE: {reason}"),
    }
}

/// Every live key at `revision` under `prefix`, streamed in key order.
fn print_keys(
    mvcc: &Mvcc,
    revision: i64,
    prefix: &[u8],
    out: &mut impl Write,
) -> io::Result<Verdict> {
    let (key, range_end) = if prefix.is_empty() {
        (vec![0], vec![0])
    } else {
        (prefix.to_vec(), prefix_end(prefix))
    };
    let read = mvcc.read();
    let at = if revision == 0 {
        read.revision()
    } else {
        revision
    };
    writeln!(out, "  keys at revision {at}:")?;
    let mut failed = None;
    let mut count = 0u64;
    let streamed = read.range_each(&key, &range_end, revision, |kv: KeyValue| {
        count += 1;
        let line = format!(
            "    {} (create {}, mod {}, version {}, lease {:x}, value {} bytes)",
            kv.key.escape_ascii(),
            kv.create_revision,
            kv.mod_revision,
            kv.version,
            kv.lease,
            kv.value.len()
        );
        match writeln!(out, "{line}") {
            Ok(()) => true,
            Err(e) => {
                failed = Some(e);
                false
            }
        }
    });
    if let Some(e) = failed {
        return Err(e);
    }
    match streamed {
        Ok(_) => {
            writeln!(out, "  {count} keys")?;
            Ok(Verdict::Clean)
        }
        // A compacted or future revision is the operator's mistake, not damage.
        Err(e) => {
            writeln!(out, "  cannot list keys at revision {revision}: {e}")?;
            Ok(Verdict::Clean)
        }
    }
}

/// etcd's prefix end: the prefix with its last byte below 0xFF raised by one.
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return end;
        }
    }
    // All 0xFF: every key from the prefix on.
    vec![0]
}
