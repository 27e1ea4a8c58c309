//! HPACK's prefixed integers (RFC 7541 §5.1). Decoding refuses anything above `u32::MAX`
//! so a hostile run of continuation octets cannot overflow or loop for long.

use bytes::{BufMut, BytesMut};

use super::HpackError;

/// Largest value accepted: every length, index and size in HPACK fits in 32 bits.
const MAX_VALUE: u64 = u32::MAX as u64;

/// Decodes an integer whose first octet is `src[*pos]`, keeping the low `prefix_bits`
/// bits of it. Advances `pos` past the integer.
pub(super) fn decode(src: &[u8], pos: &mut usize, prefix_bits: u8) -> Result<usize, HpackError> {
    let mask = (0xffu16 >> (8 - prefix_bits)) as u8;
    let first = *src.get(*pos).ok_or(HpackError::Truncated)?;
    *pos += 1;
    let mut value = u64::from(first & mask);
    if value < u64::from(mask) {
        return Ok(value as usize);
    }
    let mut shift = 0u32;
    loop {
        let byte = *src.get(*pos).ok_or(HpackError::Truncated)?;
        *pos += 1;
        value += u64::from(byte & 0x7f) << shift;
        if value > MAX_VALUE {
            return Err(HpackError::IntegerOverflow);
        }
        if byte & 0x80 == 0 {
            return usize::try_from(value).map_err(|_| HpackError::IntegerOverflow);
        }
        shift += 7;
        // Five continuation octets already carry 35 bits; more can only be padding zeros.
        if shift > 28 {
            return Err(HpackError::IntegerOverflow);
        }
    }
}

/// Encodes `value` with a `prefix_bits`-bit prefix; `flags` are the representation's
/// pattern bits above the prefix.
pub(super) fn encode(value: usize, prefix_bits: u8, flags: u8, dst: &mut BytesMut) {
    let mask = (1usize << prefix_bits) - 1;
    if value < mask {
        dst.put_u8(flags | value as u8);
        return;
    }
    dst.put_u8(flags | mask as u8);
    let mut rest = value - mask;
    while rest >= 0x80 {
        dst.put_u8((rest as u8 & 0x7f) | 0x80);
        rest >>= 7;
    }
    dst.put_u8(rest as u8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc_7541_c1_examples() {
        // C.1.1: 10 with a 5-bit prefix.
        let mut buf = BytesMut::new();
        encode(10, 5, 0, &mut buf);
        assert_eq!(&buf[..], &[0b01010]);
        // C.1.2: 1337 with a 5-bit prefix.
        buf.clear();
        encode(1337, 5, 0, &mut buf);
        assert_eq!(&buf[..], &[0b11111, 0b1001_1010, 0b0000_1010]);
        let mut pos = 0;
        assert_eq!(decode(&buf, &mut pos, 5), Ok(1337));
        assert_eq!(pos, 3);
        // C.1.3: 42 at an octet boundary.
        buf.clear();
        encode(42, 8, 0, &mut buf);
        assert_eq!(&buf[..], &[42]);
    }

    #[test]
    fn overflow_and_truncation() {
        let mut pos = 0;
        assert_eq!(
            decode(&[0x1f, 0xff], &mut pos, 5),
            Err(HpackError::Truncated)
        );
        let mut pos = 0;
        assert_eq!(decode(&[], &mut pos, 5), Err(HpackError::Truncated));
        let mut pos = 0;
        let huge = [0x1f, 0xff, 0xff, 0xff, 0xff, 0x7f];
        assert_eq!(decode(&huge, &mut pos, 5), Err(HpackError::IntegerOverflow));
        let mut pos = 0;
        let zeros = [0x1f, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00];
        assert_eq!(
            decode(&zeros, &mut pos, 5),
            Err(HpackError::IntegerOverflow)
        );
    }

    proptest! {
        #[test]
        fn round_trip(value in 0usize..=u32::MAX as usize, prefix in 1u8..=8) {
            let mut buf = BytesMut::new();
            encode(value, prefix, 0, &mut buf);
            let mut pos = 0;
            prop_assert_eq!(decode(&buf, &mut pos, prefix), Ok(value));
            prop_assert_eq!(pos, buf.len());
        }
    }
}
