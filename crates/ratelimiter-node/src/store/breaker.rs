//! A circuit breaker on the decision path: while Redis keeps failing, decisions skip it.
//!
//! Without it, every decision during an outage waits for the Redis timeout before its failure
//! mode decides, so a node serves at most `connections / timeout` decisions per second (320/s for
//! 16 client connections and 50 ms) and clients queue for seconds. With it, after
//! [`FAILURES_TO_OPEN`] failures in a row the breaker *opens*: decisions go straight to the
//! failure mode, and once per cool-down one of them starts a probe of Redis in the background
//! (*half-open*) without waiting for it. Any successful Redis call (a probe, a heartbeat, a
//! policy poll) closes the breaker, so shared limiting resumes as soon as Redis answers.
//!
//! The logic is pure: callers pass the time (milliseconds since the store was made), which keeps
//! it testable without a clock.

use std::sync::atomic::Ordering::{AcqRel, Acquire, Release};
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::time::Duration;

/// Failed Redis calls in a row that open the breaker (one failure may be a hiccup).
pub const FAILURES_TO_OPEN: u32 = 3;

/// The shortest cool-down between probes; it is at least twice the Redis timeout.
pub const MIN_COOL_DOWN: Duration = Duration::from_millis(100);

/// What a decision does with Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Closed: call Redis.
    Call,
    /// Open, and this decision's turn to start a background probe; it does not call Redis.
    Probe,
    /// Open: do not call Redis.
    Skip,
}

/// The breaker's state, shared by every request of a node.
#[derive(Debug)]
pub struct Breaker {
    cool_down_ms: u64,
    failures: AtomicU32,
    /// 0 while closed; else the time from which the next probe may go to Redis.
    open_until_ms: AtomicU64,
}

impl Breaker {
    /// A closed breaker whose cool-down suits a Redis `timeout`.
    pub fn new(timeout: Duration) -> Self {
        let cool_down = (timeout * 2).max(MIN_COOL_DOWN);
        Self {
            cool_down_ms: u64::try_from(cool_down.as_millis()).unwrap_or(u64::MAX),
            failures: AtomicU32::new(0),
            open_until_ms: AtomicU64::new(0),
        }
    }

    /// What a decision at `now_ms` does: call Redis while closed; while open, skip it, and the
    /// first caller after each cool-down starts the probe.
    pub fn admit(&self, now_ms: u64) -> Admission {
        let until = self.open_until_ms.load(Acquire);
        if until == 0 {
            return Admission::Call;
        }
        if now_ms < until {
            return Admission::Skip;
        }
        let next = now_ms.saturating_add(self.cool_down_ms).max(1);
        match self
            .open_until_ms
            .compare_exchange(until, next, AcqRel, Acquire)
        {
            Ok(_) => Admission::Probe,
            Err(_) => Admission::Skip,
        }
    }

    /// A Redis call succeeded: closed. (Reads first: on the healthy path nothing is written, so
    /// the decisions of every thread do not contend for the breaker's cache line.)
    pub fn record_success(&self) {
        if self.failures.load(Acquire) != 0 {
            self.failures.store(0, Release);
        }
        if self.open_until_ms.load(Acquire) != 0 {
            self.open_until_ms.store(0, Release);
        }
    }

    /// A Redis call failed at `now_ms`: opens after [`FAILURES_TO_OPEN`] in a row.
    pub fn record_failure(&self, now_ms: u64) {
        let failures = self.failures.fetch_add(1, AcqRel).saturating_add(1);
        if failures >= FAILURES_TO_OPEN {
            // Only a closed breaker opens here; an open one was pushed on by its probe.
            let next = now_ms.saturating_add(self.cool_down_ms).max(1);
            let _ = self
                .open_until_ms
                .compare_exchange(0, next, AcqRel, Acquire);
        }
    }

    /// Whether it is open (decisions skip Redis).
    pub fn is_open(&self) -> bool {
        self.open_until_ms.load(Acquire) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> Breaker {
        Breaker::new(Duration::from_millis(50))
    }

    #[test]
    fn stays_closed_through_fewer_failures_than_the_threshold() {
        let b = breaker();
        b.record_failure(10);
        b.record_failure(11);
        assert!(!b.is_open());
        assert_eq!(b.admit(12), Admission::Call);
        b.record_success();
        b.record_failure(13);
        b.record_failure(14);
        assert!(!b.is_open(), "a success resets the count");
    }

    #[test]
    fn opens_after_failures_in_a_row_and_lets_one_probe_per_cool_down() {
        let b = breaker();
        for t in 0..FAILURES_TO_OPEN {
            b.record_failure(1_000 + u64::from(t));
        }
        assert!(b.is_open());
        assert_eq!(
            b.admit(1_050),
            Admission::Skip,
            "within the cool-down nothing goes to Redis"
        );
        assert_eq!(
            b.admit(1_102),
            Admission::Probe,
            "the first caller after it probes"
        );
        assert_eq!(b.admit(1_102), Admission::Skip, "and only that one");
        assert_eq!(b.admit(1_200), Admission::Skip);
        b.record_failure(1_200); // the probe failed: still open, next probe a cool-down later
        assert_eq!(b.admit(1_202), Admission::Probe);
    }

    #[test]
    fn any_success_closes_it() {
        let b = breaker();
        for _ in 0..FAILURES_TO_OPEN {
            b.record_failure(5);
        }
        assert!(b.is_open());
        b.record_success();
        assert!(!b.is_open());
        assert_eq!(b.admit(6), Admission::Call);
        b.record_failure(7);
        assert!(!b.is_open(), "the count started again");
    }

    #[test]
    fn the_cool_down_is_at_least_twice_the_timeout() {
        assert_eq!(Breaker::new(Duration::from_millis(10)).cool_down_ms, 100);
        assert_eq!(Breaker::new(Duration::from_millis(400)).cool_down_ms, 800);
    }
}
