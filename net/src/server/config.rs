//! Limits and timers of a server connection, with grpc-go's (and etcd's) defaults.

use std::time::Duration;

use crate::grpc::DEFAULT_MAX_RECV_MESSAGE_SIZE;
use crate::hpack::DEFAULT_MAX_HEADER_LIST_SIZE;
use crate::proto::{DEFAULT_CONNECTION_WINDOW, DEFAULT_STREAM_WINDOW};

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// SETTINGS_MAX_CONCURRENT_STREAMS we advertise; more open streams are refused.
    pub max_concurrent_streams: u32,
    /// SETTINGS_INITIAL_WINDOW_SIZE we advertise: what one stream may send unread.
    pub stream_window: u32,
    /// The connection receive window: what all streams together may send unread.
    pub connection_window: u32,
    /// SETTINGS_MAX_FRAME_SIZE we advertise (and enforce on received frames).
    pub max_frame_size: u32,
    /// SETTINGS_MAX_HEADER_LIST_SIZE we advertise and enforce.
    pub max_header_list_size: u32,
    /// Largest request message accepted (grpc-go `MaxRecvMsgSize`).
    pub max_recv_message_size: usize,
    /// Response octets a call may queue before `Responses::send` waits for the peer.
    pub stream_send_buffer: usize,
    /// Encoded output above which the connection stops reading and stops pulling from
    /// calls until the socket drains: a peer that does not read cannot grow our memory.
    pub write_high_water: usize,
    /// Pings closer together than this earn a strike (`--grpc-keepalive-min-time`).
    pub keepalive_min_time: Duration,
    /// Whether pings without open streams are allowed (grpc-go `PermitWithoutStream`).
    pub keepalive_permit_without_stream: bool,
    /// Ping the client after this long without hearing from it (`--grpc-keepalive-interval`).
    pub keepalive_interval: Option<Duration>,
    /// Close the connection when a keepalive ping is not answered within this
    /// (`--grpc-keepalive-timeout`).
    pub keepalive_timeout: Duration,
    /// Close (GOAWAY NO_ERROR) a connection without calls for this long.
    pub max_idle: Option<Duration>,
    /// How long a graceful shutdown waits for in-flight calls before closing anyway.
    pub shutdown_grace: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_concurrent_streams: 1000,
            stream_window: DEFAULT_STREAM_WINDOW,
            connection_window: DEFAULT_CONNECTION_WINDOW,
            max_frame_size: 16_384,
            max_header_list_size: DEFAULT_MAX_HEADER_LIST_SIZE as u32,
            max_recv_message_size: DEFAULT_MAX_RECV_MESSAGE_SIZE,
            stream_send_buffer: 256 * 1024,
            write_high_water: 1024 * 1024,
            keepalive_min_time: Duration::from_secs(5),
            keepalive_permit_without_stream: false,
            keepalive_interval: Some(Duration::from_secs(2 * 60 * 60)),
            keepalive_timeout: Duration::from_secs(20),
            max_idle: None,
            shutdown_grace: Duration::from_secs(5),
        }
    }
}
