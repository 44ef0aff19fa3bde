//! [`RedisClock`]: Redis `TIME` and when it was read, to tell how far each node's clock is off.

use tokio::time::Instant;

/// Redis `TIME` and the local instant it was read at, to compare other clocks with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RedisClock {
    /// Redis `TIME`, Unix milliseconds.
    pub(crate) time_ms: u64,
    /// The local instant Redis answered `TIME` at (the middle of the round trip).
    pub(crate) at: Instant,
}

impl RedisClock {
    /// `clock_ms` (read at local instant `at`) minus Redis time at that instant, in ms.
    pub(crate) fn skew_ms(&self, clock_ms: u64, at: Instant) -> i64 {
        let elapsed = i64::try_from(at.saturating_duration_since(self.at).as_millis())
            .unwrap_or(i64::MAX)
            - i64::try_from(self.at.saturating_duration_since(at).as_millis()).unwrap_or(i64::MAX);
        let redis_then = i64::try_from(self.time_ms)
            .unwrap_or(i64::MAX)
            .saturating_add(elapsed);
        i64::try_from(clock_ms)
            .unwrap_or(i64::MAX)
            .saturating_sub(redis_then)
    }
}
