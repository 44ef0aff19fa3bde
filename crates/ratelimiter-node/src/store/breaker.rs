//! A circuit breaker on the decision path: while Redis keeps failing, decisions skip it.
//!
//! Without it, every decision during an outage waits for the Redis timeout before its failure
//! mode decides, so a node serves at most `connections / timeout` decisions per second (320/s for
//! 16 client connections and 50 ms) and clients queue for seconds. With it, once Redis calls have
//! failed [`FAILURES_TO_OPEN`] times in a row *and* none has succeeded for a cool-down, the
//! breaker *opens*: decisions go straight to the
//! failure mode, and once per cool-down one of them starts a probe of Redis in the background
//! (*half-open*) without waiting for it. Only a successful *decision* closes the breaker: a
//! check-script call, or the probe, which is the check script on a probe key with a 2 s TTL (a
//! write, like every decision). Reads (a heartbeat's `PING`, a policy poll, `/readyz`) never
//! close it: a Redis that answers reads but stalls or refuses writes (`CLIENT PAUSE WRITE`, a
//! read-only replica after a failover, `OOM` under `noeviction`) would otherwise make it flap,
//! and every decision would wait for the timeout again. Shared limiting resumes as soon as a
//! decision succeeds.
//!
//! The logic is pure: callers pass the time (milliseconds since the store was made), which keeps
//! it testable without a clock.

use std::sync::atomic::Ordering::{AcqRel, Acquire, Release};
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::time::Duration;

/// Failed Redis calls in a row that open the breaker (one failure may be a hiccup).
pub const FAILURES_TO_OPEN: u32 = 3;

// Why also a cool-down without any success: a burst that overloads the node (a thousand
// concurrent checks on two cores) can time out a run of calls queued behind each other while
// Redis answers the rest. That is not a Redis failure, and opening would decide by the failure
// mode (inexactly) for no reason; a Redis that is really gone answers nothing.

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
    /// When a Redis call last succeeded.
    last_success_ms: AtomicU64,
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
            last_success_ms: AtomicU64::new(0),
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

    /// A decision (check script or probe) succeeded at `now_ms`: closed. (Reads first: on the healthy path little is
    /// written, at most once per millisecond, so the decisions of every thread do not contend
    /// for the breaker's cache line.)
    pub fn record_success(&self, now_ms: u64) {
        if self.last_success_ms.load(Acquire) < now_ms {
            self.last_success_ms.fetch_max(now_ms, AcqRel);
        }
        if self.failures.load(Acquire) != 0 {
            self.failures.store(0, Release);
        }
        if self.open_until_ms.load(Acquire) != 0 {
            self.open_until_ms.store(0, Release);
        }
    }

    /// A call of the decision path failed at `now_ms`: opens after [`FAILURES_TO_OPEN`] in a row with no
    /// success for a cool-down.
    pub fn record_failure(&self, now_ms: u64) {
        let failures = self.failures.fetch_add(1, AcqRel).saturating_add(1);
        let quiet_ms = now_ms.saturating_sub(self.last_success_ms.load(Acquire));
        if failures >= FAILURES_TO_OPEN && quiet_ms >= self.cool_down_ms {
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

    /// A breaker (cool-down 100 ms) whose last success was at 1,000 ms.
    fn breaker() -> Breaker {
        let b = Breaker::new(Duration::from_millis(50));
        b.record_success(1_000);
        b
    }

    fn fail(b: &Breaker, times: u32, at: u64) {
        for _ in 0..times {
            b.record_failure(at);
        }
    }

    #[test]
    fn stays_closed_through_fewer_failures_than_the_threshold() {
        let b = breaker();
        fail(&b, FAILURES_TO_OPEN - 1, 2_000);
        assert!(!b.is_open());
        assert_eq!(b.admit(2_001), Admission::Call);
        b.record_success(2_002);
        fail(&b, FAILURES_TO_OPEN - 1, 3_000);
        assert!(!b.is_open(), "a success resets the count");
    }

    #[test]
    fn failures_while_redis_still_answers_others_do_not_open_it() {
        let b = breaker();
        b.record_success(1_950);
        fail(&b, 50, 2_000);
        assert!(
            !b.is_open(),
            "a success 50 ms ago: an overload, not a dead Redis"
        );
        fail(&b, 1, 2_050);
        assert!(b.is_open(), "no success for a whole cool-down");
    }

    #[test]
    fn opens_after_failures_in_a_row_and_lets_one_probe_per_cool_down() {
        let b = breaker();
        fail(&b, FAILURES_TO_OPEN, 1_200);
        assert!(b.is_open());
        assert_eq!(
            b.admit(1_250),
            Admission::Skip,
            "within the cool-down nothing goes to Redis"
        );
        assert_eq!(
            b.admit(1_300),
            Admission::Probe,
            "the first caller after it probes"
        );
        assert_eq!(b.admit(1_300), Admission::Skip, "and only that one");
        assert_eq!(b.admit(1_399), Admission::Skip);
        b.record_failure(1_399); // the probe failed: still open, next probe a cool-down later
        assert_eq!(b.admit(1_400), Admission::Probe);
    }

    #[test]
    fn a_decision_success_closes_it() {
        let b = breaker();
        fail(&b, FAILURES_TO_OPEN, 1_500);
        assert!(b.is_open());
        b.record_success(1_600);
        assert!(!b.is_open());
        assert_eq!(b.admit(1_601), Admission::Call);
        fail(&b, FAILURES_TO_OPEN - 1, 1_800);
        assert!(!b.is_open(), "the count started again");
    }

    #[test]
    fn the_cool_down_is_at_least_twice_the_timeout() {
        assert_eq!(Breaker::new(Duration::from_millis(10)).cool_down_ms, 100);
        assert_eq!(Breaker::new(Duration::from_millis(400)).cool_down_ms, 800);
    }
}
