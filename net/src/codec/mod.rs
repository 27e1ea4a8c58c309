//! Bytes ↔ frames. `reader` turns whatever the socket delivered into whole frames, one at a
//! time, without ever buffering more than one maximum-size frame or one bounded field block;
//! `writer` builds outgoing frames into as few buffers as possible so a connection issues
//! one vectored write per turn of its loop. Neither knows stream state: that is `proto/`.

pub(crate) mod io;
mod reader;
mod writer;

pub use reader::{
    DEFAULT_MAX_CONTINUATION_FRAMES, DEFAULT_MAX_HEADER_BLOCK_SIZE, FrameReader, strip_preface,
};
pub use writer::{FrameWriter, ZERO_COPY_THRESHOLD};
