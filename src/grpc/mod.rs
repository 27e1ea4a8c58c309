//! The gRPC front door. The HTTP/2 codec and the etcd services are later issues; until they
//! land, an HTTP/2 client gets a well-formed refusal instead of a hang: the server preface
//! (empty SETTINGS) and a GOAWAY whose debug data says why.

use futures_lite::AsyncWriteExt;
use glommio::net::TcpStream;

const FRAME_SETTINGS: u8 = 0x4;
const FRAME_GOAWAY: u8 = 0x7;
/// RFC 9113 §7: "use HTTP/1.1 for the request" — true of this build, whose only working
/// front doors are HTTP/1.1.
const HTTP_1_1_REQUIRED: u32 = 0xd;
const NOT_BUILT: &[u8] = b"ringkv: the gRPC services are not built yet";

pub async fn serve(mut stream: TcpStream) {
    let _ = stream.write_all(&refusal()).await;
    let _ = stream.flush().await;
    let _ = stream.close().await;
}

fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len())
        .unwrap_or(u32::MAX)
        .to_be_bytes();
    let mut out = Vec::with_capacity(9 + payload.len());
    out.extend_from_slice(&len[1..]);
    out.push(kind);
    out.push(0); // flags
    out.extend_from_slice(&0u32.to_be_bytes()); // stream 0: connection-level
    out.extend_from_slice(payload);
    out
}

fn refusal() -> Vec<u8> {
    let mut goaway = Vec::new();
    goaway.extend_from_slice(&0u32.to_be_bytes()); // last stream id: none processed
    goaway.extend_from_slice(&HTTP_1_1_REQUIRED.to_be_bytes());
    goaway.extend_from_slice(NOT_BUILT);
    let mut out = frame(FRAME_SETTINGS, &[]);
    out.extend_from_slice(&frame(FRAME_GOAWAY, &goaway));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_is_settings_then_goaway() {
        let bytes = refusal();
        assert_eq!(&bytes[..9], &[0, 0, 0, 4, 0, 0, 0, 0, 0]);
        let goaway = &bytes[9..];
        let len = u32::from_be_bytes([0, goaway[0], goaway[1], goaway[2]]) as usize;
        assert_eq!(goaway[3], FRAME_GOAWAY);
        assert_eq!(len, goaway.len() - 9);
        assert_eq!(&goaway[13..17], &HTTP_1_1_REQUIRED.to_be_bytes());
        assert_eq!(&goaway[17..], NOT_BUILT);
    }
}
