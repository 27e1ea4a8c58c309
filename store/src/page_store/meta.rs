//! The meta page: where the file says which tree roots, freelist and size are current. Pages 0
//! and 1 hold two metas written alternately (a durable commit overwrites the older one), so a
//! meta torn by a crash mid-write leaves the other intact; on open the valid meta with the
//! highest txid wins.

use super::page::{
    FIRST_DATA_PAGE, HEADER_LEN, Header, PAGE_SIZE, PageId, PageKind, TxId, read_u32, read_u64,
    seal, verify,
};

pub const MAGIC: [u8; 8] = *b"RINGKVDB";
/// The file format. 2: node offsets and key lengths are u32 and a node may span several
/// pages (long keys). 3: the MVCC layer keeps its records in the `rev` table and only index
/// entries in the key-ordered one. Files of other versions are refused, not converted.
pub const VERSION: u32 = 3;
/// Independent trees the file holds (index, rev, leases, auth, ... for the MVCC layer).
pub const TABLES: usize = 8;

/// Contents of one meta page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub txid: TxId,
    /// High-water mark: pages `[0, hwm)` are in use or free; the file is at least this long.
    pub hwm: u64,
    /// First page of the freelist run; 0 when the freelist is empty.
    pub freelist: PageId,
    /// Root page of each table; 0 for an empty table.
    pub roots: [PageId; TABLES],
}

impl Meta {
    pub fn empty() -> Meta {
        Meta {
            txid: 0,
            hwm: FIRST_DATA_PAGE,
            freelist: 0,
            roots: [0; TABLES],
        }
    }

    pub fn encode(&self, slot: PageId) -> Vec<u8> {
        let mut page = vec![0u8; PAGE_SIZE];
        Header {
            kind: PageKind::Meta,
            id: slot,
            count: 0,
            extra: 0,
        }
        .encode(&mut page);
        let mut at = HEADER_LEN;
        let mut put = |b: &[u8]| {
            page[at..at + b.len()].copy_from_slice(b);
            at += b.len();
        };
        put(&MAGIC);
        put(&VERSION.to_le_bytes());
        put(&(PAGE_SIZE as u32).to_le_bytes());
        put(&self.txid.to_le_bytes());
        put(&self.hwm.to_le_bytes());
        put(&self.freelist.to_le_bytes());
        for r in self.roots {
            put(&r.to_le_bytes());
        }
        seal(&mut page);
        page
    }

    /// The format version an intact ringkv meta page declares, whatever it is; `None` if the
    /// page is not one (torn, or not a ringkv store). Lets open name an old format plainly.
    pub fn version_of(page: &[u8], slot: PageId) -> Option<u32> {
        verify(page, slot).ok()?;
        let h = Header::decode(page, slot).ok()?;
        if h.kind != PageKind::Meta || page.get(24..32) != Some(&MAGIC[..]) {
            return None;
        }
        read_u32(page, 32)
    }

    /// Decodes and validates meta slot `slot` from its page bytes. `file_pages` is how many
    /// whole pages the file has: a meta pointing past the end is as bad as a torn one.
    pub fn decode(page: &[u8], slot: PageId, file_pages: u64) -> Result<Meta, &'static str> {
        if page.len() < PAGE_SIZE {
            return Err("file too short");
        }
        verify(page, slot).map_err(|_| "checksum mismatch")?;
        let h = Header::decode(page, slot).map_err(|_| "bad header")?;
        if h.kind != PageKind::Meta {
            return Err("not a meta page");
        }
        if page.get(24..32) != Some(&MAGIC[..]) {
            return Err("bad magic");
        }
        if read_u32(page, 32) != Some(VERSION) {
            return Err("unsupported version");
        }
        if read_u32(page, 36) != Some(PAGE_SIZE as u32) {
            return Err("unsupported page size");
        }
        let field = |at| read_u64(page, at).ok_or("short meta");
        let txid = field(40)?;
        let hwm = field(48)?;
        let freelist = field(56)?;
        let mut roots = [0; TABLES];
        for (i, r) in roots.iter_mut().enumerate() {
            *r = field(64 + 8 * i)?;
        }
        if hwm < FIRST_DATA_PAGE || hwm > file_pages {
            return Err("high-water mark beyond the end of the file");
        }
        let in_range = |p: PageId| p == 0 || (FIRST_DATA_PAGE..hwm).contains(&p);
        if !in_range(freelist) || !roots.iter().all(|r| in_range(*r)) {
            return Err("page id beyond the high-water mark");
        }
        Ok(Meta {
            txid,
            hwm,
            freelist,
            roots,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_damage() {
        let mut m = Meta::empty();
        m.txid = 9;
        m.hwm = 10;
        m.roots[1] = 4;
        let page = m.encode(1);
        assert_eq!(Meta::decode(&page, 1, 10), Ok(m));
        assert!(Meta::decode(&page, 0, 10).is_err());
        assert!(Meta::decode(&page, 1, 9).is_err());
        let mut torn = page.clone();
        torn[2000] ^= 0x40;
        assert!(Meta::decode(&torn, 1, 10).is_err());
        assert_eq!(Meta::version_of(&page, 1), Some(VERSION));
        assert_eq!(Meta::version_of(&torn, 1), None);
    }

    #[test]
    fn another_version_is_refused_but_named() {
        let mut page = Meta::empty().encode(0);
        page[32..36].copy_from_slice(&1u32.to_le_bytes());
        seal(&mut page);
        assert_eq!(Meta::decode(&page, 0, 10), Err("unsupported version"));
        assert_eq!(Meta::version_of(&page, 0), Some(1));
    }
}
