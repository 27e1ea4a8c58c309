//! RFC 9113 §7 error codes and the one error type every HTTP/2 layer returns. The split
//! between a connection error (GOAWAY, close) and a stream error (RST_STREAM, carry on) is
//! decided where the violation is detected, because only there is the RFC's rule known.

use super::StreamId;

/// An HTTP/2 error code (RFC 9113 §7). Unknown codes are kept, not mapped, because the RFC
/// says they must not trigger special behaviour and may be reported as-is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    NoError,
    ProtocolError,
    InternalError,
    FlowControlError,
    SettingsTimeout,
    StreamClosed,
    FrameSizeError,
    RefusedStream,
    Cancel,
    CompressionError,
    ConnectError,
    EnhanceYourCalm,
    InadequateSecurity,
    Http11Required,
    /// A code this implementation does not know (§7: treat like INTERNAL_ERROR if at all).
    Unknown(u32),
}

impl ErrorCode {
    pub fn from_u32(code: u32) -> Self {
        match code {
            0x0 => Self::NoError,
            0x1 => Self::ProtocolError,
            0x2 => Self::InternalError,
            0x3 => Self::FlowControlError,
            0x4 => Self::SettingsTimeout,
            0x5 => Self::StreamClosed,
            0x6 => Self::FrameSizeError,
            0x7 => Self::RefusedStream,
            0x8 => Self::Cancel,
            0x9 => Self::CompressionError,
            0xa => Self::ConnectError,
            0xb => Self::EnhanceYourCalm,
            0xc => Self::InadequateSecurity,
            0xd => Self::Http11Required,
            other => Self::Unknown(other),
        }
    }

    pub fn to_u32(self) -> u32 {
        match self {
            Self::NoError => 0x0,
            Self::ProtocolError => 0x1,
            Self::InternalError => 0x2,
            Self::FlowControlError => 0x3,
            Self::SettingsTimeout => 0x4,
            Self::StreamClosed => 0x5,
            Self::FrameSizeError => 0x6,
            Self::RefusedStream => 0x7,
            Self::Cancel => 0x8,
            Self::CompressionError => 0x9,
            Self::ConnectError => 0xa,
            Self::EnhanceYourCalm => 0xb,
            Self::InadequateSecurity => 0xc,
            Self::Http11Required => 0xd,
            Self::Unknown(other) => other,
        }
    }
}

/// A protocol violation with the scope the RFC assigns to it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum H2Error {
    /// Ends the whole connection with GOAWAY (RFC 9113 §5.4.1).
    #[error("HTTP/2 connection error {code:?}: {reason}")]
    Connection {
        code: ErrorCode,
        reason: &'static str,
    },
    /// Resets one stream with RST_STREAM; the connection lives on (RFC 9113 §5.4.2).
    #[error("HTTP/2 stream {stream_id:?} error {code:?}: {reason}")]
    Stream {
        stream_id: StreamId,
        code: ErrorCode,
        reason: &'static str,
    },
}

impl H2Error {
    pub fn connection(code: ErrorCode, reason: &'static str) -> Self {
        Self::Connection { code, reason }
    }

    pub fn stream(stream_id: StreamId, code: ErrorCode, reason: &'static str) -> Self {
        Self::Stream {
            stream_id,
            code,
            reason,
        }
    }

    /// The code that goes on the wire, whatever the scope.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Connection { code, .. } | Self::Stream { code, .. } => *code,
        }
    }

    pub fn is_connection_error(&self) -> bool {
        matches!(self, Self::Connection { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for raw in 0..=0xe_u32 {
            assert_eq!(ErrorCode::from_u32(raw).to_u32(), raw);
        }
        assert_eq!(ErrorCode::from_u32(0xdead), ErrorCode::Unknown(0xdead));
        assert_eq!(ErrorCode::from_u32(0xb), ErrorCode::EnhanceYourCalm);
    }
}
