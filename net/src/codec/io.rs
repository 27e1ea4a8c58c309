//! The socket side of a connection driver, shared by the server and the client: read what
//! the socket has into the frame reader's buffer, and write every queued frame buffer with
//! as few vectored writes as the socket takes.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::IoSlice;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use futures_lite::{AsyncRead, AsyncWrite};

/// Octets asked of the socket per read.
const READ_CHUNK: usize = 16 * 1024;
/// At most this many buffers go into one vectored write.
const MAX_IOVECS: usize = 64;

thread_local! {
    /// Where reads land, one per thread (an executor's connections take turns with it):
    /// only the octets read are then copied to the connection's buffer. Zero-filling
    /// `READ_CHUNK` octets of that buffer before every read instead cost a 16 KiB memset per
    /// call, and most calls find nothing.
    static READ_SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; READ_CHUNK].into_boxed_slice());
}

/// Appends what the socket has to `buf`; `Ready(Ok(0))` is the end of the stream.
pub(crate) fn poll_read<IO: AsyncRead + Unpin>(
    io: &mut IO,
    buf: &mut BytesMut,
    cx: &mut Context<'_>,
) -> Poll<std::io::Result<usize>> {
    READ_SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut scratch) => {
            let result = Pin::new(io).poll_read(cx, &mut scratch[..]);
            if let Poll::Ready(Ok(n)) = &result {
                buf.extend_from_slice(&scratch[..(*n).min(READ_CHUNK)]);
            }
            result
        }
        // Only a read from inside another read on this thread could get here, and no
        // stream reads through this function.
        Err(_) => Poll::Ready(Err(std::io::Error::other("nested connection read"))),
    })
}

/// Writes queued output (`queued` is the octets in `out`); `Ok(true)` when something was
/// written, `Pending` when the socket took nothing and output is left.
pub(crate) fn poll_write<IO: AsyncWrite + Unpin>(
    io: &mut IO,
    out: &mut VecDeque<Bytes>,
    queued: &mut usize,
    cx: &mut Context<'_>,
) -> Poll<std::io::Result<bool>> {
    let mut wrote = false;
    while !out.is_empty() {
        let slices: Vec<IoSlice<'_>> = out
            .iter()
            .take(MAX_IOVECS)
            .map(|b| IoSlice::new(b))
            .collect();
        let n = match Pin::new(&mut *io).poll_write_vectored(cx, &slices) {
            Poll::Ready(Ok(0)) => {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            Poll::Ready(Ok(n)) => n,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => break,
        };
        wrote = true;
        *queued = queued.saturating_sub(n);
        let mut left = n;
        while left > 0 {
            let Some(front) = out.front_mut() else {
                break;
            };
            if front.len() <= left {
                left -= front.len();
                out.pop_front();
            } else {
                front.advance(left);
                left = 0;
            }
        }
    }
    if wrote {
        Poll::Ready(Ok(true))
    } else if out.is_empty() {
        Poll::Ready(Ok(false))
    } else {
        Poll::Pending
    }
}
