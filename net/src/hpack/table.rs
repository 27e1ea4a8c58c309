//! HPACK's two tables (RFC 7541 §2.3): the fixed static table of Appendix A and the
//! per-connection dynamic table with its octet accounting (§4.1: name + value + 32 per
//! entry), FIFO eviction and size changes (§4.2–§4.4). Shared by decoder and encoder so
//! both sides count octets exactly the same way.

use std::collections::VecDeque;

use bytes::Bytes;

/// Appendix A, in index order (index 1 is the first element).
pub const STATIC_TABLE: [(&str, &str); 61] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

/// Per-entry overhead in the size accounting (§4.1).
pub const ENTRY_OVERHEAD: usize = 32;

/// The protocol's initial SETTINGS_HEADER_TABLE_SIZE.
pub const DEFAULT_TABLE_SIZE: usize = 4096;

/// The size an entry counts for (§4.1).
pub fn entry_size(name: &[u8], value: &[u8]) -> usize {
    name.len() + value.len() + ENTRY_OVERHEAD
}

/// Looks a name up in the static table: the index of a full (name, value) match if there
/// is one, else of the first entry with the name.
pub fn find_static(name: &[u8], value: &[u8]) -> Option<(usize, bool)> {
    let (first, count) = static_name(name)?;
    for index in first..first + count {
        if STATIC_TABLE[index - 1].1.as_bytes() == value {
            return Some((index, true));
        }
    }
    Some((first, false))
}

/// First index and number of entries for a name in Appendix A (entries with one name are
/// adjacent). A `match` rather than a scan: this runs for every header we send.
fn static_name(name: &[u8]) -> Option<(usize, usize)> {
    Some(match name {
        b":authority" => (1, 1),
        b":method" => (2, 2),
        b":path" => (4, 2),
        b":scheme" => (6, 2),
        b":status" => (8, 7),
        b"accept-charset" => (15, 1),
        b"accept-encoding" => (16, 1),
        b"accept-language" => (17, 1),
        b"accept-ranges" => (18, 1),
        b"accept" => (19, 1),
        b"access-control-allow-origin" => (20, 1),
        b"age" => (21, 1),
        b"allow" => (22, 1),
        b"authorization" => (23, 1),
        b"cache-control" => (24, 1),
        b"content-disposition" => (25, 1),
        b"content-encoding" => (26, 1),
        b"content-language" => (27, 1),
        b"content-length" => (28, 1),
        b"content-location" => (29, 1),
        b"content-range" => (30, 1),
        b"content-type" => (31, 1),
        b"cookie" => (32, 1),
        b"date" => (33, 1),
        b"etag" => (34, 1),
        b"expect" => (35, 1),
        b"expires" => (36, 1),
        b"from" => (37, 1),
        b"host" => (38, 1),
        b"if-match" => (39, 1),
        b"if-modified-since" => (40, 1),
        b"if-none-match" => (41, 1),
        b"if-range" => (42, 1),
        b"if-unmodified-since" => (43, 1),
        b"last-modified" => (44, 1),
        b"link" => (45, 1),
        b"location" => (46, 1),
        b"max-forwards" => (47, 1),
        b"proxy-authenticate" => (48, 1),
        b"proxy-authorization" => (49, 1),
        b"range" => (50, 1),
        b"referer" => (51, 1),
        b"refresh" => (52, 1),
        b"retry-after" => (53, 1),
        b"server" => (54, 1),
        b"set-cookie" => (55, 1),
        b"strict-transport-security" => (56, 1),
        b"transfer-encoding" => (57, 1),
        b"user-agent" => (58, 1),
        b"vary" => (59, 1),
        b"via" => (60, 1),
        b"www-authenticate" => (61, 1),
        _ => return None,
    })
}

/// The dynamic table. Newest entry first: index 62 (`STATIC_TABLE.len() + 1`) is the
/// entry inserted last (§2.3.3).
#[derive(Debug, Clone)]
pub struct DynamicTable {
    entries: VecDeque<(Bytes, Bytes)>,
    size: usize,
    max_size: usize,
}

impl DynamicTable {
    pub fn new(max_size: usize) -> Self {
        DynamicTable {
            entries: VecDeque::new(),
            size: 0,
            max_size,
        }
    }

    /// Octets in use by the §4.1 accounting.
    pub fn size(&self) -> usize {
        self.size
    }

    pub fn max_size(&self) -> usize {
        self.max_size
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entry at a 0-based position, newest first.
    pub fn get(&self, position: usize) -> Option<&(Bytes, Bytes)> {
        self.entries.get(position)
    }

    /// Iterates newest first.
    pub fn iter(&self) -> impl Iterator<Item = &(Bytes, Bytes)> {
        self.entries.iter()
    }

    /// Adds an entry, evicting the oldest until it fits. An entry larger than the whole
    /// table empties it and is not added; that is not an error (§4.4).
    pub fn insert(&mut self, name: Bytes, value: Bytes) {
        let size = entry_size(&name, &value);
        if size > self.max_size {
            self.entries.clear();
            self.size = 0;
            return;
        }
        while self.size + size > self.max_size {
            self.evict_oldest();
        }
        self.size += size;
        self.entries.push_front((name, value));
    }

    /// Changes the maximum size, evicting as needed (§4.3).
    pub fn set_max_size(&mut self, max_size: usize) {
        self.max_size = max_size;
        while self.size > self.max_size {
            self.evict_oldest();
        }
    }

    fn evict_oldest(&mut self) {
        if let Some((name, value)) = self.entries.pop_back() {
            self.size -= entry_size(&name, &value);
        }
    }
}

/// Resolves an HPACK index (1-based, static then dynamic) to a name and value.
pub fn lookup(dynamic: &DynamicTable, index: usize) -> Option<(Bytes, Bytes)> {
    match index {
        0 => None,
        1..=61 => {
            let (n, v) = STATIC_TABLE[index - 1];
            Some((
                Bytes::from_static(n.as_bytes()),
                Bytes::from_static(v.as_bytes()),
            ))
        }
        _ => dynamic.get(index - STATIC_TABLE.len() - 1).cloned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &'static str) -> Bytes {
        Bytes::from_static(s.as_bytes())
    }

    #[test]
    fn static_table_matches_appendix_a() {
        assert_eq!(STATIC_TABLE.len(), 61);
        assert_eq!(STATIC_TABLE[0], (":authority", ""));
        assert_eq!(STATIC_TABLE[7], (":status", "200"));
        assert_eq!(STATIC_TABLE[30], ("content-type", ""));
        assert_eq!(STATIC_TABLE[60], ("www-authenticate", ""));
        assert_eq!(find_static(b":status", b"200"), Some((8, true)));
        assert_eq!(find_static(b":status", b"418"), Some((8, false)));
        assert_eq!(find_static(b":method", b"POST"), Some((3, true)));
        assert_eq!(find_static(b"authorization", b"x"), Some((23, false)));
        assert_eq!(find_static(b"grpc-status", b"0"), None);
    }

    #[test]
    fn static_name_index_agrees_with_the_table() {
        for (i, (name, value)) in STATIC_TABLE.iter().enumerate() {
            let (index, full) = find_static(name.as_bytes(), value.as_bytes()).unwrap();
            assert!(full);
            assert_eq!(STATIC_TABLE[index - 1], STATIC_TABLE[i]);
            let (first, _) = find_static(name.as_bytes(), b"\xff").unwrap();
            assert_eq!(STATIC_TABLE[first - 1].0, *name);
            assert!(first == 1 || STATIC_TABLE[first - 2].0 != *name);
        }
    }

    #[test]
    fn lookup_static_and_dynamic() {
        let mut t = DynamicTable::new(4096);
        assert_eq!(lookup(&t, 0), None);
        assert_eq!(lookup(&t, 2), Some((b(":method"), b("GET"))));
        assert_eq!(lookup(&t, 62), None);
        t.insert(b("a"), b("1"));
        t.insert(b("b"), b("2"));
        assert_eq!(lookup(&t, 62), Some((b("b"), b("2"))));
        assert_eq!(lookup(&t, 63), Some((b("a"), b("1"))));
        assert_eq!(lookup(&t, 64), None);
        assert_eq!(t.size(), 2 * 34);
    }

    #[test]
    fn eviction_and_resize() {
        // Room for exactly two 34-octet entries.
        let mut t = DynamicTable::new(68);
        t.insert(b("a"), b("1"));
        t.insert(b("b"), b("2"));
        t.insert(b("c"), b("3"));
        assert_eq!(t.len(), 2);
        assert_eq!(t.get(0), Some(&(b("c"), b("3"))));
        assert_eq!(t.get(1), Some(&(b("b"), b("2"))));
        t.set_max_size(40);
        assert_eq!(t.len(), 1);
        assert_eq!(t.size(), 34);
        // Too big for the table: empties it.
        t.insert(b("long-name"), b("long-value"));
        assert!(t.is_empty());
        assert_eq!(t.size(), 0);
        t.set_max_size(0);
        t.insert(b("a"), b("1"));
        assert!(t.is_empty());
    }
}
