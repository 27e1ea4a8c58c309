//! gRPC status: the code and message a call ends with, carried in the `grpc-status` and
//! `grpc-message` trailers (the message percent-encoded, per the gRPC HTTP/2 spec).

use std::fmt;

/// The canonical gRPC status codes, with their wire numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Code {
    Ok = 0,
    Canceled = 1,
    Unknown = 2,
    InvalidArgument = 3,
    DeadlineExceeded = 4,
    NotFound = 5,
    AlreadyExists = 6,
    PermissionDenied = 7,
    ResourceExhausted = 8,
    FailedPrecondition = 9,
    Aborted = 10,
    OutOfRange = 11,
    Unimplemented = 12,
    Internal = 13,
    Unavailable = 14,
    DataLoss = 15,
    Unauthenticated = 16,
}

impl Code {
    const ALL: [Code; 17] = [
        Code::Ok,
        Code::Canceled,
        Code::Unknown,
        Code::InvalidArgument,
        Code::DeadlineExceeded,
        Code::NotFound,
        Code::AlreadyExists,
        Code::PermissionDenied,
        Code::ResourceExhausted,
        Code::FailedPrecondition,
        Code::Aborted,
        Code::OutOfRange,
        Code::Unimplemented,
        Code::Internal,
        Code::Unavailable,
        Code::DataLoss,
        Code::Unauthenticated,
    ];

    /// The code for a `grpc-status` value; unknown numbers are `Unknown`, as gRPC says.
    pub fn from_wire(value: u32) -> Code {
        usize::try_from(value)
            .ok()
            .and_then(|i| Code::ALL.get(i).copied())
            .unwrap_or(Code::Unknown)
    }

    pub fn as_wire(self) -> u32 {
        self as u32
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A call's final status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub code: Code,
    pub message: String,
}

impl Status {
    pub fn new(code: Code, message: impl Into<String>) -> Status {
        Status {
            code,
            message: message.into(),
        }
    }
}

/// Percent-encodes a `grpc-message` value: bytes outside printable ASCII, and `%` itself,
/// become `%XX` (gRPC over HTTP/2, "Responses").
pub fn percent_encode(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for &b in message.as_bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes a `grpc-message` value. Malformed escapes are kept as they are, as grpc-go
/// does, rather than failing the call.
pub fn percent_decode(value: &[u8]) -> String {
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        let escaped = match value.get(i..i + 3) {
            Some([b'%', hi, lo]) => hex(*hi).zip(hex(*lo)).map(|(h, l)| h * 16 + l),
            _ => None,
        };
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(value[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn wire_numbers_are_grpcs() {
        assert_eq!(Code::InvalidArgument.as_wire(), 3);
        assert_eq!(Code::Unauthenticated.as_wire(), 16);
        for (i, code) in Code::ALL.iter().enumerate() {
            assert_eq!(Code::from_wire(i as u32), *code);
        }
        assert_eq!(Code::from_wire(17), Code::Unknown);
        assert_eq!(Code::from_wire(u32::MAX), Code::Unknown);
    }

    #[test]
    fn messages_are_percent_encoded_like_grpc_go() {
        assert_eq!(
            percent_encode("etcdserver: key is not provided"),
            "etcdserver: key is not provided"
        );
        assert_eq!(percent_encode("100% ok\n"), "100%25 ok%0A");
        assert_eq!(percent_encode("héllo"), "h%C3%A9llo");
        assert_eq!(percent_decode(b"100%25 ok%0A"), "100% ok\n");
        assert_eq!(percent_decode(b"bad %zz and %4"), "bad %zz and %4");
    }

    proptest! {
        #[test]
        fn encoding_round_trips(message in ".*") {
            prop_assert_eq!(percent_decode(percent_encode(&message).as_bytes()), message);
        }

        #[test]
        fn decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = percent_decode(&bytes);
        }
    }
}
