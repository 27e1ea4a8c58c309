//! Segment file names, in etcd's style `<seq>-<first index>.wal` (16 hex digits each), so
//! operators find the files where and as they expect them.

/// The file name of the segment with sequence number `seq` whose first entry is `index`.
pub fn file_name(seq: u64, index: u64) -> String {
    format!("{seq:016x}-{index:016x}.wal")
}

/// Parses a segment file name back into `(seq, index)`; `None` for any other file.
pub fn parse_file_name(name: &str) -> Option<(u64, u64)> {
    let stem = name.strip_suffix(".wal")?;
    let (seq, index) = stem.split_once('-')?;
    if seq.len() != 16 || index.len() != 16 {
        return None;
    }
    Some((
        u64::from_str_radix(seq, 16).ok()?,
        u64::from_str_radix(index, 16).ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn matches_etcd_naming() {
        assert_eq!(file_name(0, 0), "0000000000000000-0000000000000000.wal");
        assert_eq!(file_name(1, 0x2a), "0000000000000001-000000000000002a.wal");
    }

    #[test]
    fn other_files_are_not_segments() {
        assert_eq!(parse_file_name("0.tmp"), None);
        assert_eq!(
            parse_file_name("000000000000000g-0000000000000000.wal"),
            None
        );
        assert_eq!(parse_file_name("1-2.wal"), None);
    }

    proptest! {
        #[test]
        fn names_round_trip(seq: u64, index: u64) {
            prop_assert_eq!(parse_file_name(&file_name(seq, index)), Some((seq, index)));
        }
    }
}
