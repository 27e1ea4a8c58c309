//! `ringkv debug wal <data-dir>`: every WAL segment and record (offset, type, index, term,
//! size), and where and why each segment's scan stopped. Read-only: unlike opening the log,
//! it never cuts a torn tail.

use std::io::{self, Write};
use std::path::Path;

use ringkv_wal::scan::{Stop, scan};
use ringkv_wal::{Record, segment};

use super::Verdict;

/// Prints the WAL of `data_dir` (`<data-dir>/member/wal`) to `out`.
pub fn print(data_dir: &Path, out: &mut impl Write) -> io::Result<Verdict> {
    let wal_dir = data_dir.join("member/wal");
    let mut segments: Vec<(u64, u64, String)> = std::fs::read_dir(&wal_dir)?
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            segment::parse_file_name(&name).map(|(seq, index)| (seq, index, name))
        })
        .collect();
    segments.sort();
    writeln!(
        out,
        "WAL {} ({} segment(s))",
        wal_dir.display(),
        segments.len()
    )?;
    let mut verdict = Verdict::Clean;
    for (seq, first_index, name) in segments {
        let bytes = std::fs::read(wal_dir.join(&name))?;
        let scanned = scan(&bytes, seq);
        writeln!(
            out,
            "segment {name}: seq {seq}, first index {first_index}, {} bytes, {} record(s){}",
            bytes.len(),
            scanned.records.len(),
            if scanned.recycled {
                " (recycled file: the bytes after the end are an older segment's)"
            } else {
                ""
            }
        )?;
        writeln!(
            out,
            "  {:>10}  {:<10}  {:>10}  {:>8}  {:>8}",
            "offset", "type", "index", "term", "size"
        )?;
        for r in &scanned.records {
            let (kind, index, term, size) = match &r.record {
                Record::SegmentHeader { seq, .. } => {
                    ("header", String::new(), String::new(), format!("seq {seq}"))
                }
                Record::Entry(e) => (
                    "entry",
                    e.index.to_string(),
                    e.term.to_string(),
                    e.data.len().to_string(),
                ),
                Record::HardState(h) => (
                    "hardstate",
                    format!("commit {}", h.commit),
                    h.term.to_string(),
                    format!("vote {:x}", h.vote),
                ),
                Record::Snapshot(s) => (
                    "snapshot",
                    s.index.to_string(),
                    s.term.to_string(),
                    s.conf_state.len().to_string(),
                ),
                Record::TruncateAfter(index) => (
                    "truncate",
                    format!("after {index}"),
                    String::new(),
                    String::new(),
                ),
            };
            writeln!(
                out,
                "  {:>10}  {kind:<10}  {index:>10}  {term:>8}  {size:>8}",
                r.offset
            )?;
        }
        match &scanned.stop {
            Stop::Clean => writeln!(out, "  end at offset {} (clean)", scanned.end)?,
            Stop::Torn { offset } => writeln!(
                out,
                "  torn tail at offset {offset}: the server cuts it back to the last good record on start"
            )?,
            Stop::Corrupt { offset, error } => {
                verdict = Verdict::Corrupt;
                writeln!(out, "  CORRUPT at offset {offset}: {error}")?;
            }
        }
    }
    Ok(verdict)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringkv_wal::{Entry, FileDir, Log, Options};

    #[test]
    fn lists_records_of_a_real_log() {
        let dir = std::env::temp_dir().join(format!("ringkv-debug-wal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let wal_dir = dir.join("member/wal");
        std::fs::create_dir_all(&wal_dir).unwrap();
        let options = Options {
            segment_size: 64 * 1024,
            max_wals: 5,
        };
        let (mut log, _) = Log::open(FileDir::new(&wal_dir).unwrap(), options).unwrap();
        let entries: Vec<Entry> = (1..=3)
            .map(|index| Entry {
                index,
                term: 2,
                data: vec![7; 100],
            })
            .collect();
        log.append_entries(&entries).unwrap();
        log.sync().unwrap();
        drop(log);

        let mut out = Vec::new();
        assert_eq!(print(&dir, &mut out).unwrap(), Verdict::Clean);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("1 segment(s)"), "{text}");
        assert_eq!(text.matches(" entry ").count(), 3, "{text}");
        assert!(text.contains("(clean)"), "{text}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
