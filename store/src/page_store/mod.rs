//! Page management, knowing nothing of trees: the page format and header ([`page`]), the two
//! meta pages ([`meta`]), the freelist with its reader-aware reuse rule ([`freelist`]), the
//! memory map readers use ([`mapping`]) and the file the writer writes with `pwrite`
//! ([`file`]). The B+tree in `btree/` sits on top.

pub mod file;
pub mod freelist;
pub mod mapping;
pub mod meta;
pub mod page;

pub use page::{PAGE_SIZE, PageId, TxId};
