//! HTTP/2 frames come straight from clients: the frame reader must never panic, must make
//! progress (consume input or ask for more), and every frame it yields must re-encode.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use ringkv_net::codec::FrameReader;

fuzz_target!(|data: &[u8]| {
    // The first byte picks a small max frame size sometimes, to reach the size checks.
    let Some((&knob, rest)) = data.split_first() else {
        return;
    };
    let mut reader = FrameReader::new();
    if knob & 1 == 1 {
        reader.set_max_frame_size(1 << 20);
    }
    reader.set_max_continuation_frames(usize::from(knob >> 4));
    // Feed in two pieces so partial-input paths run too.
    let split = usize::from(knob) % (rest.len() + 1);
    let mut src = BytesMut::from(&rest[..split]);
    let mut fed_all = false;
    loop {
        let before = src.len();
        match reader.decode(&mut src) {
            Ok(Some(frame)) => {
                assert!(src.len() < before, "a frame must consume input");
                let mut out = BytesMut::new();
                frame.encode(&mut out);
            }
            Ok(None) if !fed_all => {
                src.extend_from_slice(&rest[split..]);
                fed_all = true;
            }
            Ok(None) | Err(_) => break,
        }
    }
});
