//! The copy-on-write B+tree, knowing pages only through `page_store`: the node model and page
//! layout ([`node`]), reading pages in place ([`page_view`]), insert/remove with split and
//! merge ([`mutator`]), range iteration ([`cursor`]) and structural verification ([`check`]).

pub mod check;
pub mod cursor;
pub mod mutator;
pub mod node;
pub mod page_view;
