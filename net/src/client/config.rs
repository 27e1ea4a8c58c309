//! Limits of a client connection, with grpc-go's client defaults where it has them.

use crate::grpc::DEFAULT_MAX_RECV_MESSAGE_SIZE;
use crate::hpack::DEFAULT_MAX_HEADER_LIST_SIZE;
use crate::proto::{DEFAULT_CONNECTION_WINDOW, DEFAULT_STREAM_WINDOW};

#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `:authority` of every request (host[:port]).
    pub authority: String,
    /// `:scheme` of every request: "http" for h2c, "https" over TLS.
    pub scheme: String,
    /// SETTINGS_INITIAL_WINDOW_SIZE we advertise: what one response may send unread.
    /// Raised to hold at least one largest message (credit returns per whole message).
    pub stream_window: u32,
    /// The connection receive window: what all responses together may send unread.
    pub connection_window: u32,
    /// SETTINGS_MAX_FRAME_SIZE we advertise (and enforce on received frames).
    pub max_frame_size: u32,
    /// SETTINGS_MAX_HEADER_LIST_SIZE we advertise and enforce.
    pub max_header_list_size: u32,
    /// Largest response message accepted (grpc-go `MaxCallRecvMsgSize`).
    pub max_recv_message_size: usize,
    /// Request octets a call may queue before `RequestStream::send` waits for the server.
    pub stream_send_buffer: usize,
    /// Encoded output above which the connection neither reads nor pulls from calls until
    /// the socket drains.
    pub write_high_water: usize,
}

impl ClientConfig {
    /// Defaults for talking to `authority` over h2c.
    pub fn new(authority: impl Into<String>) -> Self {
        ClientConfig {
            authority: authority.into(),
            scheme: "http".to_owned(),
            stream_window: DEFAULT_STREAM_WINDOW,
            connection_window: DEFAULT_CONNECTION_WINDOW,
            max_frame_size: 16_384,
            max_header_list_size: DEFAULT_MAX_HEADER_LIST_SIZE as u32,
            max_recv_message_size: DEFAULT_MAX_RECV_MESSAGE_SIZE,
            stream_send_buffer: 256 * 1024,
            write_high_water: 1024 * 1024,
        }
    }

    /// The same over TLS (`:scheme https`).
    pub fn https(authority: impl Into<String>) -> Self {
        ClientConfig {
            scheme: "https".to_owned(),
            ..ClientConfig::new(authority)
        }
    }
}
