//! The tables the MVCC layer uses, and one read interface over both a read snapshot and the
//! write transaction, so range, events and hashing are written once and a write sees its own
//! uncommitted changes.

use crate::{ReadCursor, ReadTxn, Table, WriteCursor, WriteTxn};

const fn table(index: u8) -> Table {
    match Table::new(index) {
        Some(t) => t,
        // Evaluated at compile time: an out-of-range index fails the build, not a run.
        None => panic!("table index out of range"),
    }
}

/// (escaped user key, revision descending) → [`super::index::IndexEntry`]: finds a key's
/// versions.
pub const INDEX: Table = table(0);
/// revision (17-byte etcd form) → [`super::record::Record`], key included: every version in
/// the order it was written, appended at the tail; ranges, watch history and compaction.
pub const REV: Table = table(1);
/// current/compact revision, compaction cursor, consistent index.
pub const META: Table = table(2);
/// Every [`super::Side`], multiplexed by a leading byte.
pub const SIDE: Table = table(3);

pub trait Source {
    type Iter<'a>: Iterator<Item = crate::Result<(&'a [u8], &'a [u8])>>
    where
        Self: 'a;

    fn get(&self, table: Table, key: &[u8]) -> crate::Result<Option<&[u8]>>;
    fn scan<'a>(
        &'a self,
        table: Table,
        start: &[u8],
        end: Option<&[u8]>,
    ) -> crate::Result<Self::Iter<'a>>;
}

impl Source for ReadTxn {
    type Iter<'a> = ReadCursor<'a>;

    fn get(&self, table: Table, key: &[u8]) -> crate::Result<Option<&[u8]>> {
        ReadTxn::get(self, table, key)
    }

    fn scan<'a>(
        &'a self,
        table: Table,
        start: &[u8],
        end: Option<&[u8]>,
    ) -> crate::Result<ReadCursor<'a>> {
        self.range(table, start, end)
    }
}

impl<'db> Source for WriteTxn<'db> {
    type Iter<'a>
        = WriteCursor<'a, 'db>
    where
        Self: 'a;

    fn get(&self, table: Table, key: &[u8]) -> crate::Result<Option<&[u8]>> {
        WriteTxn::get(self, table, key)
    }

    fn scan<'a>(
        &'a self,
        table: Table,
        start: &[u8],
        end: Option<&[u8]>,
    ) -> crate::Result<WriteCursor<'a, 'db>> {
        self.range(table, start, end)
    }
}
