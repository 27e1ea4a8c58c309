//! Guards against cheap-to-send, costly-to-answer frame floods: rapid reset
//! (CVE-2023-44487: open a stream, reset it at once, repeat) and SETTINGS floods, each of
//! which makes us do work or queue replies per frame (PING floods meet grpc-go's
//! ping-strike rule in the connection instead). A `FloodGuard` counts events in a fixed
//! time window; going over the budget is a connection error ENHANCE_YOUR_CALM, as grpc-go
//! and h2 answer these. The caller supplies the clock, so this stays pure and testable.

use std::time::{Duration, Instant};

use crate::frame::{ErrorCode, H2Error};

/// A budget of `max` events per `window`.
#[derive(Debug, Clone)]
pub struct FloodGuard {
    max: u32,
    window: Duration,
    window_start: Option<Instant>,
    count: u32,
    reason: &'static str,
}

impl FloodGuard {
    pub fn new(max: u32, window: Duration, reason: &'static str) -> Self {
        FloodGuard {
            max,
            window,
            window_start: None,
            count: 0,
            reason,
        }
    }

    /// Peer RST_STREAMs on streams we had not yet answered: 200 per second is far beyond
    /// what cancelling clients do, and far below what an attack needs.
    pub fn rapid_reset() -> Self {
        FloodGuard::new(
            200,
            Duration::from_secs(1),
            "too many streams reset by the peer",
        )
    }

    /// SETTINGS frames we must apply and acknowledge.
    pub fn settings() -> Self {
        FloodGuard::new(100, Duration::from_secs(1), "too many SETTINGS frames")
    }

    /// Records one event at `now`.
    pub fn record(&mut self, now: Instant) -> Result<(), H2Error> {
        match self.window_start {
            Some(start) if now.saturating_duration_since(start) < self.window => {}
            _ => {
                self.window_start = Some(now);
                self.count = 0;
            }
        }
        self.count += 1;
        if self.count > self.max {
            return Err(H2Error::connection(ErrorCode::EnhanceYourCalm, self.reason));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_per_window() {
        let start = Instant::now();
        let mut g = FloodGuard::new(3, Duration::from_secs(1), "test");
        for _ in 0..3 {
            g.record(start).unwrap();
        }
        let e = g.record(start + Duration::from_millis(999)).unwrap_err();
        assert!(e.is_connection_error());
        assert_eq!(e.code(), ErrorCode::EnhanceYourCalm);
        // A new window starts afresh.
        g.record(start + Duration::from_secs(2)).unwrap();
        g.record(start + Duration::from_secs(2)).unwrap();
    }

    #[test]
    fn presets_allow_normal_traffic() {
        let now = Instant::now();
        for mut g in [FloodGuard::rapid_reset(), FloodGuard::settings()] {
            for _ in 0..100 {
                g.record(now).unwrap();
            }
        }
    }
}
