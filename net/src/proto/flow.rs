//! Flow-control windows (RFC 9113 §5.2, §6.9). A send window is credit the peer gave us; a
//! receive window is credit we gave the peer. Windows are kept as `i64` because a lowered
//! SETTINGS_INITIAL_WINDOW_SIZE can push a stream's window below zero (§6.9.2), and the
//! 2^31-1 ceiling is checked on every increase.

use crate::frame::{
    DEFAULT_INITIAL_WINDOW_SIZE, ErrorCode, H2Error, MAX_INITIAL_WINDOW_SIZE, StreamId,
};

/// Receive window we aim for on each stream: large, as grpc-go's BDP estimation ends up,
/// so one round trip carries megabytes.
pub const DEFAULT_STREAM_WINDOW: u32 = 4 * 1024 * 1024;
/// Receive window we aim for on the connection as a whole.
pub const DEFAULT_CONNECTION_WINDOW: u32 = 16 * 1024 * 1024;

const MAX_WINDOW: i64 = MAX_INITIAL_WINDOW_SIZE as i64;

/// FLOW_CONTROL_ERROR scoped as §6.9.1 says: the connection for stream 0, else the stream.
fn flow_error(stream_id: StreamId, reason: &'static str) -> H2Error {
    if stream_id.is_zero() {
        H2Error::connection(ErrorCode::FlowControlError, reason)
    } else {
        H2Error::stream(stream_id, ErrorCode::FlowControlError, reason)
    }
}

/// Credit for sending DATA on one stream or on the connection (`stream_id` 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendWindow {
    stream_id: StreamId,
    window: i64,
}

impl SendWindow {
    pub fn new(stream_id: StreamId, initial: u32) -> Self {
        SendWindow {
            stream_id,
            window: i64::from(initial),
        }
    }

    /// The connection's window before any WINDOW_UPDATE.
    pub fn connection() -> Self {
        SendWindow::new(StreamId::ZERO, DEFAULT_INITIAL_WINDOW_SIZE)
    }

    /// Octets that may be sent now (0 while the window is exhausted or negative).
    pub fn available(&self) -> u32 {
        self.window.clamp(0, MAX_WINDOW) as u32
    }

    /// Records `n` octets sent; callers send at most `available()`.
    pub fn consume(&mut self, n: u32) {
        debug_assert!(n <= self.available(), "sent beyond the flow-control window");
        self.window -= i64::from(n);
    }

    /// Applies a WINDOW_UPDATE. Growing past 2^31-1 is a FLOW_CONTROL_ERROR (§6.9.1).
    pub fn grow(&mut self, increment: u32) -> Result<(), H2Error> {
        let grown = self.window + i64::from(increment);
        if grown > MAX_WINDOW {
            return Err(flow_error(
                self.stream_id,
                "WINDOW_UPDATE overflows the window",
            ));
        }
        self.window = grown;
        Ok(())
    }

    /// Applies a change of the peer's SETTINGS_INITIAL_WINDOW_SIZE (`new - old`) to a
    /// stream window. Overflow here is always a connection error (§6.9.2).
    pub fn adjust_initial(&mut self, delta: i64) -> Result<(), H2Error> {
        let adjusted = self.window + delta;
        if adjusted > MAX_WINDOW {
            return Err(H2Error::connection(
                ErrorCode::FlowControlError,
                "SETTINGS_INITIAL_WINDOW_SIZE change overflows a stream window",
            ));
        }
        self.window = adjusted;
        Ok(())
    }
}

/// Credit we granted the peer, and the bookkeeping to hand it back in batches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecvWindow {
    stream_id: StreamId,
    /// What the peer may still send.
    window: i64,
    /// The window we keep topping up to.
    target: u32,
    /// Octets the application has consumed but we have not yet returned.
    released: u32,
}

impl RecvWindow {
    /// `advertised` is what the peer believes the window is (the protocol default or our
    /// SETTINGS value); `target` is what we want it to be.
    pub fn new(stream_id: StreamId, advertised: u32, target: u32) -> Self {
        RecvWindow {
            stream_id,
            window: i64::from(advertised),
            target: target.min(MAX_INITIAL_WINDOW_SIZE),
            released: 0,
        }
    }

    /// Octets the peer may still send.
    pub fn available(&self) -> i64 {
        self.window
    }

    /// The WINDOW_UPDATE increment that raises the advertised window to the target, if
    /// any; used once when a stream or the connection starts.
    pub fn initial_update(&mut self) -> Option<u32> {
        let missing = i64::from(self.target) - self.window;
        if missing <= 0 {
            return None;
        }
        self.window += missing;
        Some(missing as u32)
    }

    /// Accounts a received DATA frame (its whole flow-controlled length). More than the
    /// window allows is a FLOW_CONTROL_ERROR (§6.9.1).
    pub fn recv(&mut self, n: u32) -> Result<(), H2Error> {
        if i64::from(n) > self.window {
            return Err(flow_error(
                self.stream_id,
                "DATA beyond the flow-control window",
            ));
        }
        self.window -= i64::from(n);
        Ok(())
    }

    /// The application consumed `n` octets. Returns a WINDOW_UPDATE increment once half
    /// the target is waiting, so a busy stream sends few small updates.
    pub fn release(&mut self, n: u32) -> Option<u32> {
        self.released = self.released.saturating_add(n);
        if self.released < self.target / 2 || self.released == 0 {
            return None;
        }
        let increment = self.released;
        self.released = 0;
        self.window += i64::from(increment);
        Some(increment)
    }

    /// Applies a change of our own SETTINGS_INITIAL_WINDOW_SIZE (`new - old`), once the
    /// peer acknowledged it: the peer adjusted its view of every stream window by `delta`.
    pub fn adjust_initial(&mut self, delta: i64) {
        self.window += delta;
        self.target = (i64::from(self.target) + delta).clamp(0, MAX_WINDOW) as u32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_window_consumes_and_grows() {
        let mut w = SendWindow::new(StreamId::new(1), 100);
        w.consume(60);
        assert_eq!(w.available(), 40);
        w.grow(10).unwrap();
        assert_eq!(w.available(), 50);
        let e = w.grow(MAX_INITIAL_WINDOW_SIZE).unwrap_err();
        assert!(!e.is_connection_error());
        assert_eq!(e.code(), ErrorCode::FlowControlError);
        let mut c = SendWindow::connection();
        let e = c.grow(MAX_INITIAL_WINDOW_SIZE).unwrap_err();
        assert!(e.is_connection_error());
        // Exactly 2^31-1 is legal.
        c.grow(MAX_INITIAL_WINDOW_SIZE - DEFAULT_INITIAL_WINDOW_SIZE)
            .unwrap();
        assert_eq!(c.available(), MAX_INITIAL_WINDOW_SIZE);
    }

    #[test]
    fn settings_change_may_go_negative_but_not_overflow() {
        let mut w = SendWindow::new(StreamId::new(1), 65_535);
        w.consume(65_535);
        w.adjust_initial(-1000).unwrap();
        assert_eq!(w.available(), 0);
        w.grow(500).unwrap();
        assert_eq!(w.available(), 0, "still below zero");
        w.grow(600).unwrap();
        assert_eq!(w.available(), 100);
        let e = w.adjust_initial(MAX_WINDOW).unwrap_err();
        assert!(e.is_connection_error());
        assert_eq!(e.code(), ErrorCode::FlowControlError);
    }

    #[test]
    fn recv_window_enforces_and_batches_updates() {
        let mut w = RecvWindow::new(StreamId::new(3), 65_535, 1000);
        assert_eq!(w.initial_update(), None, "already above target");
        let mut w = RecvWindow::new(StreamId::new(3), 100, 1000);
        assert_eq!(w.initial_update(), Some(900));
        w.recv(1000).unwrap();
        let e = w.recv(1).unwrap_err();
        assert!(!e.is_connection_error());
        assert_eq!(e.code(), ErrorCode::FlowControlError);
        assert_eq!(w.release(400), None);
        assert_eq!(w.release(100), Some(500));
        assert_eq!(w.available(), 500);

        let mut c = RecvWindow::new(StreamId::ZERO, 10, 10);
        assert!(c.recv(11).unwrap_err().is_connection_error());
    }

    #[test]
    fn own_settings_change_moves_the_recv_window() {
        let mut w = RecvWindow::new(StreamId::new(1), 65_535, 65_535);
        w.adjust_initial(-35_535);
        assert_eq!(w.available(), 30_000);
        assert!(w.recv(30_001).is_err());
    }
}
