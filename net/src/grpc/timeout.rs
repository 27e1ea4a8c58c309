//! The `grpc-timeout` request header: at most 8 ASCII digits and a unit letter (gRPC over
//! HTTP/2, "Requests"): H hours, M minutes, S seconds, m milliseconds, u microseconds,
//! n nanoseconds.
//!
//! `encode_timeout` is the client's side: the finest unit whose value fits in 8 digits,
//! rounded up, so the server never sees a shorter deadline than the caller asked for.

use std::time::Duration;

/// Parses a `grpc-timeout` value; `None` when malformed.
pub fn parse_timeout(value: &[u8]) -> Option<Duration> {
    let (unit, digits) = value.split_last()?;
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = digits
        .iter()
        .fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'));
    Some(match unit {
        b'H' => Duration::from_secs(n * 3600),
        b'M' => Duration::from_secs(n * 60),
        b'S' => Duration::from_secs(n),
        b'm' => Duration::from_millis(n),
        b'u' => Duration::from_micros(n),
        b'n' => Duration::from_nanos(n),
        _ => return None,
    })
}

/// The largest value `grpc-timeout` may carry in any unit.
const MAX_TIMEOUT_VALUE: u128 = 99_999_999;

/// Formats a `grpc-timeout` value for `timeout`, as grpc-go's `encodeTimeout` does.
pub fn encode_timeout(timeout: Duration) -> String {
    let nanos = timeout.as_nanos();
    for (unit, per) in [
        ('n', 1u128),
        ('u', 1_000),
        ('m', 1_000_000),
        ('S', 1_000_000_000),
        ('M', 60_000_000_000),
    ] {
        let value = nanos.div_ceil(per);
        if value <= MAX_TIMEOUT_VALUE {
            return format!("{value}{unit}");
        }
    }
    let hours = nanos.div_ceil(3_600_000_000_000).min(MAX_TIMEOUT_VALUE);
    format!("{hours}H")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_picks_the_finest_unit_and_rounds_up() {
        assert_eq!(encode_timeout(Duration::ZERO), "0n");
        assert_eq!(
            encode_timeout(Duration::from_nanos(99_999_999)),
            "99999999n"
        );
        assert_eq!(encode_timeout(Duration::from_millis(100)), "100000u");
        assert_eq!(encode_timeout(Duration::from_secs(5)), "5000000u");
        assert_eq!(encode_timeout(Duration::from_nanos(100_000_001)), "100001u");
        assert_eq!(encode_timeout(Duration::from_secs(1_000_000)), "1000000S");
        assert_eq!(encode_timeout(Duration::from_secs(100_000_000)), "1666667M");
        assert_eq!(encode_timeout(Duration::MAX), "99999999H");
        for d in [1u64, 999, 123_456_789, 86_400_000_000_000] {
            let d = Duration::from_nanos(d);
            let back = parse_timeout(encode_timeout(d).as_bytes()).unwrap();
            assert!(back >= d, "{d:?} -> {back:?}");
        }
    }

    #[test]
    fn units() {
        assert_eq!(parse_timeout(b"1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_timeout(b"2M"), Some(Duration::from_secs(120)));
        assert_eq!(
            parse_timeout(b"99999999S"),
            Some(Duration::from_secs(99_999_999))
        );
        assert_eq!(parse_timeout(b"250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_timeout(b"7u"), Some(Duration::from_micros(7)));
        assert_eq!(parse_timeout(b"7n"), Some(Duration::from_nanos(7)));
    }

    #[test]
    fn malformed() {
        for bad in [&b""[..], b"S", b"123456789S", b"1x", b"-1S", b"1.5S"] {
            assert_eq!(parse_timeout(bad), None, "{bad:?}");
        }
    }
}
