//! Wall-clock time as tokens and the databases carry it, read through a [`Clock`] so
//! that tests can move it: a throttle window or a token's lifetime then passes in an
//! instant instead of being slept through.
//!
//! Only wall-clock readings go through it (timestamps stored, compared with stored
//! ones, or signed into tokens). Timers and elapsed time within one process use
//! `tokio::time`, which tests pause and advance instead.

use std::{
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

/// Where the time comes from: the system's clock, or one that only moves when told.
/// Cheap to clone; clones of a manual clock share its time.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    manual: Option<Arc<AtomicI64>>,
}

/// Moves the manual clock it came with, and nothing else: code that is handed a
/// [`Clock`] can read the time but never set it.
#[derive(Debug, Clone)]
pub struct ClockHand {
    now_ms: Arc<AtomicI64>,
}

impl Clock {
    /// The system's wall clock: what every service runs on.
    pub fn system() -> Self {
        Self::default()
    }

    /// A clock standing at `start_ms` (milliseconds since the epoch) until its hand
    /// moves it.
    pub fn manual(start_ms: i64) -> (Self, ClockHand) {
        let now_ms = Arc::new(AtomicI64::new(start_ms));
        let clock = Self {
            manual: Some(now_ms.clone()),
        };
        (clock, ClockHand { now_ms })
    }

    /// Milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        match &self.manual {
            Some(now_ms) => now_ms.load(Ordering::SeqCst),
            None => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|elapsed| elapsed.as_millis() as i64)
                .unwrap_or_default(),
        }
    }

    /// Whole seconds since the Unix epoch, as JWT claims count them.
    pub fn now_secs(&self) -> u64 {
        (self.now_ms() / 1000).max(0) as u64
    }
}

impl ClockHand {
    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.now_ms
            .fetch_add(by.as_millis() as i64, Ordering::SeqCst);
    }

    /// The time the clock shows, in milliseconds since the epoch.
    pub fn now_ms(&self) -> i64 {
        self.now_ms.load(Ordering::SeqCst)
    }
}

/// A `google.protobuf.Timestamp` for `ms` milliseconds since the epoch.
pub fn timestamp(ms: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_its_hand_does_and_its_clones_follow() {
        let (clock, hand) = Clock::manual(1_700_000_000_500);
        let clone = clock.clone();
        assert_eq!(clock.now_ms(), 1_700_000_000_500);
        assert_eq!(clock.now_secs(), 1_700_000_000);
        hand.advance(Duration::from_secs(15 * 60));
        assert_eq!(clone.now_ms(), 1_700_000_900_500);
        assert_eq!(hand.now_ms(), clone.now_ms());
    }

    #[test]
    fn the_system_clock_reads_the_present() {
        let before = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let now = Clock::system().now_ms();
        assert!((now - before.as_millis() as i64).abs() < 60_000, "{now}");
    }
}
