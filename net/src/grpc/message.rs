//! gRPC message framing (gRPC over HTTP/2, "Length-Prefixed-Message"): a 1-byte compressed
//! flag, a 4-byte big-endian length, then the message. The decoder slices messages out of
//! DATA payloads without copying when a message lies inside one payload, and refuses a
//! length over the receive limit as soon as the prefix arrives, before buffering the body.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::{Code, Status};

/// Octets of the length prefix.
pub const PREFIX_LEN: usize = 5;

/// grpc-go's default receive limit (`defaultServerMaxReceiveMessageSize`).
pub const DEFAULT_MAX_RECV_MESSAGE_SIZE: usize = 4 * 1024 * 1024;

/// Messages at most this large are copied next to their prefix (one DATA frame, one
/// buffer); larger ones keep their own `Bytes` so the body is never copied.
const COPY_LIMIT: usize = 16 * 1024;

/// Frames one message for the wire: one `Bytes` for small messages, prefix and body apart
/// for large ones.
pub fn encode(message: Bytes) -> (Bytes, Option<Bytes>) {
    let len = u32::try_from(message.len()).unwrap_or(u32::MAX);
    if message.len() <= COPY_LIMIT {
        let mut buf = BytesMut::with_capacity(PREFIX_LEN + message.len());
        buf.put_u8(0);
        buf.put_u32(len);
        buf.extend_from_slice(&message);
        (buf.freeze(), None)
    } else {
        let mut prefix = BytesMut::with_capacity(PREFIX_LEN);
        prefix.put_u8(0);
        prefix.put_u32(len);
        (prefix.freeze(), Some(message))
    }
}

/// Reassembles messages from the DATA payloads of one request stream.
#[derive(Debug)]
pub struct MessageDecoder {
    max_message_size: usize,
    /// Prefix octets of the message being assembled (`PREFIX_LEN` once complete).
    prefix: [u8; PREFIX_LEN],
    prefix_len: usize,
    /// Body octets so far, once the prefix is complete and the body spans payloads.
    body: BytesMut,
    /// Body length announced by the prefix.
    body_len: usize,
}

impl MessageDecoder {
    pub fn new(max_message_size: usize) -> Self {
        MessageDecoder {
            max_message_size,
            prefix: [0; PREFIX_LEN],
            prefix_len: 0,
            body: BytesMut::new(),
            body_len: 0,
        }
    }

    /// True when no message is partially received (a request may end here).
    pub fn is_idle(&self) -> bool {
        self.prefix_len == 0
    }

    /// Consumes one DATA payload, appending each completed message to `out` with its
    /// wire size (prefix included), which is what the flow-control windows count.
    pub fn push(
        &mut self,
        mut data: Bytes,
        out: &mut impl Extend<(Bytes, u32)>,
    ) -> Result<(), Status> {
        while !data.is_empty() {
            if self.prefix_len < PREFIX_LEN {
                let take = (PREFIX_LEN - self.prefix_len).min(data.len());
                let (dst, src) = (
                    &mut self.prefix[self.prefix_len..self.prefix_len + take],
                    &data[..take],
                );
                dst.copy_from_slice(src);
                self.prefix_len += take;
                data.advance(take);
                if self.prefix_len < PREFIX_LEN {
                    return Ok(());
                }
                self.start_body()?;
            }
            let missing = self.body_len - self.body.len();
            if self.body.is_empty() && data.len() >= missing {
                // The whole body is in this payload: hand out a slice, no copy.
                let message = data.split_to(missing);
                out.extend(Some((message, wire_size(self.body_len))));
                self.prefix_len = 0;
                continue;
            }
            let take = missing.min(data.len());
            self.body.extend_from_slice(&data[..take]);
            data.advance(take);
            if self.body.len() == self.body_len {
                let message = self.body.split().freeze();
                out.extend(Some((message, wire_size(self.body_len))));
                self.prefix_len = 0;
            }
        }
        Ok(())
    }

    fn start_body(&mut self) -> Result<(), Status> {
        let [flag, a, b, c, d] = self.prefix;
        let len = u32::from_be_bytes([a, b, c, d]) as usize;
        match flag {
            0 => {}
            1 => {
                return Err(Status::new(
                    Code::Unimplemented,
                    "grpc: Decompressor is not installed for grpc-encoding \"identity\"",
                ));
            }
            other => {
                return Err(Status::new(
                    Code::Internal,
                    format!("grpc: received unexpected payload format {other}"),
                ));
            }
        }
        if len > self.max_message_size {
            // grpc-go's wording, which clients and etcd's tests match on.
            return Err(Status::new(
                Code::ResourceExhausted,
                format!(
                    "grpc: received message larger than max ({len} vs. {})",
                    self.max_message_size
                ),
            ));
        }
        self.body_len = len;
        // Reserve no more than what is likely to arrive soon: the announced length is
        // the peer's word, and flow control bounds what it can actually send.
        self.body.reserve(len.min(64 * 1024));
        Ok(())
    }
}

fn wire_size(body_len: usize) -> u32 {
    u32::try_from(body_len + PREFIX_LEN).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn join(parts: (Bytes, Option<Bytes>)) -> Vec<u8> {
        let mut v = parts.0.to_vec();
        if let Some(b) = parts.1 {
            v.extend_from_slice(&b);
        }
        v
    }

    #[test]
    fn one_payload_many_messages_are_slices() {
        let mut wire = join(encode(Bytes::from_static(b"abc")));
        wire.extend(join(encode(Bytes::new())));
        let mut d = MessageDecoder::new(100);
        let mut out = Vec::new();
        d.push(Bytes::from(wire), &mut out).unwrap();
        assert_eq!(
            out,
            vec![(Bytes::from_static(b"abc"), 8), (Bytes::new(), 5)]
        );
        assert!(d.is_idle());
    }

    #[test]
    fn oversized_message_is_resource_exhausted_like_grpc_go() {
        let mut d = MessageDecoder::new(4);
        let e = d
            .push(Bytes::from_static(&[0, 0, 0, 0, 5]), &mut Vec::new())
            .unwrap_err();
        assert_eq!(e.code, Code::ResourceExhausted);
        assert_eq!(
            e.message,
            "grpc: received message larger than max (5 vs. 4)"
        );
    }

    #[test]
    fn compressed_flag_is_unimplemented() {
        let mut d = MessageDecoder::new(4);
        let e = d
            .push(Bytes::from_static(&[1, 0, 0, 0, 1, 9]), &mut Vec::new())
            .unwrap_err();
        assert_eq!(e.code, Code::Unimplemented);
    }

    #[test]
    fn large_messages_keep_their_body() {
        let body = Bytes::from(vec![7u8; 100_000]);
        let (prefix, rest) = encode(body.clone());
        assert_eq!(&prefix[..], &[0, 0, 1, 0x86, 0xa0]);
        assert_eq!(rest.unwrap(), body);
    }

    proptest! {
        #[test]
        fn any_split_reassembles(
            messages in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..8),
            cuts in proptest::collection::vec(1usize..50, 0..40),
        ) {
            let mut wire = Vec::new();
            for m in &messages {
                wire.extend(join(encode(Bytes::from(m.clone()))));
            }
            let mut d = MessageDecoder::new(1000);
            let mut out = Vec::new();
            let mut rest = Bytes::from(wire);
            for cut in cuts {
                let n = cut.min(rest.len());
                d.push(rest.split_to(n), &mut out).unwrap();
            }
            d.push(rest, &mut out).unwrap();
            let got: Vec<Vec<u8>> = out.into_iter().map(|(m, _)| m.to_vec()).collect();
            prop_assert_eq!(got, messages);
            prop_assert!(d.is_idle());
        }

        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut d = MessageDecoder::new(16);
            let _ = d.push(Bytes::from(bytes), &mut Vec::new());
        }
    }
}
