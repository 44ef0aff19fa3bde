//! Admitted against an exact oracle: what a load run's answers admitted, set against what an
//! exact sliding-window counter (the node's algorithm on one Redis, no cache) admits for the
//! same arrivals, replayed offline from the run's own schedule.
//!
//! Two figures come out of it, and they mean different things:
//! - **over-admission** is strict: the node's answers carry `reset_after_ms`, so each admitted
//!   decision is placed in its fixed window of Redis time exactly (receipt time plus
//!   `reset_after_ms` is the window's end, give or take the answer's transit, far under a
//!   window); any fixed window of any key admitting more than the limit is over-admission. An
//!   exact limiter never does it, whatever the timing.
//! - **drift** is `(admitted - oracle) / oracle`, where `oracle` replays every request of a key
//!   at its receipt time through the sliding-window counter. It is exact up to the timing of
//!   requests near a window's edge (the replay uses receipt times, Redis used its own), so a
//!   pure Redis run shows a drift near, not at, 0; a cache that under-admits shows as a
//!   negative drift beyond that.
//!
//! The oracle assumes the run's policy is one window (`limit` per `window_ms`) for every key.

use std::collections::HashMap;

use serde::Serialize;

/// The policy the oracle replays: one sliding window for every key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OraclePolicy {
    /// Cost admitted per window.
    pub limit: u64,
    /// The window, in ms.
    pub window_ms: u64,
}

/// One answered decision, as the oracle needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sample {
    /// The key's number ([`crate::keys::KeyGen::next_key`]).
    pub(crate) key: u64,
    /// Unix ms at which the answer arrived.
    pub(crate) at_ms: u64,
    /// Whether it was admitted.
    pub(crate) allowed: bool,
    /// `reset_after_ms` of the answer, when it carried one.
    pub(crate) reset_after_ms: Option<u64>,
    /// Whether the node decided it without Redis, by its failure mode (`degraded` in the body).
    pub(crate) degraded: bool,
}

/// What the run admitted, against the exact oracle.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct OracleReport {
    /// Distinct keys that got answers.
    pub keys: u64,
    /// Decisions answered (allowed or denied).
    pub decisions: u64,
    /// Cost admitted by the run.
    pub admitted: u64,
    /// Cost the exact sliding-window counter admits for the same arrivals.
    pub oracle_admitted: u64,
    /// `(admitted - oracle_admitted) / oracle_admitted` (negative: under-admission).
    pub drift: f64,
    /// Cost admitted beyond the limit, summed over every (key, fixed window) that exceeded it.
    pub over_admission: u64,
    /// (key, fixed window) pairs that admitted more than the limit.
    pub windows_over_limit: u64,
    /// Limit × fixed windows touched, summed over keys: no exact limiter admits more.
    pub bound: u64,
    /// Admitted answers without a readable `reset_after_ms` (not placed in a window).
    pub unplaced: u64,
    /// Answers decided by the node's failure mode (`degraded`: Redis timed out or failed), which
    /// an exact limiter does not promise to keep within the limit.
    pub degraded: u64,
}

/// Replays `samples` (any order) through the exact oracle, each of cost `cost`.
pub(crate) fn analyse(mut samples: Vec<Sample>, policy: OraclePolicy, cost: u64) -> OracleReport {
    let win = policy.window_ms.max(1);
    samples.sort_unstable_by_key(|s| (s.key, s.at_ms));
    let mut report = OracleReport {
        decisions: samples.len() as u64,
        ..OracleReport::default()
    };
    for of_key in samples.chunk_by(|a, b| a.key == b.key) {
        report.keys += 1;
        let mut per_window: HashMap<u64, u64> = HashMap::new();
        let mut touched: Vec<u64> = of_key.iter().map(|s| s.at_ms / win).collect();
        touched.dedup();
        report.bound += policy.limit * touched.len() as u64;
        let mut counter = SlidingCounter::default();
        for s in of_key {
            report.degraded += u64::from(s.degraded);
            if counter.admit(s.at_ms, cost, policy.limit, win) {
                report.oracle_admitted += cost;
            }
            if !s.allowed {
                continue;
            }
            report.admitted += cost;
            match s.reset_after_ms {
                // The window ends at receipt + reset_after (less the transit): its index is
                // one below the index of that instant.
                Some(reset) => {
                    let w = (s.at_ms + reset) / win;
                    *per_window.entry(w.saturating_sub(1)).or_insert(0) += cost;
                }
                None => report.unplaced += 1,
            }
        }
        for admitted in per_window.into_values() {
            if admitted > policy.limit {
                report.over_admission += admitted - policy.limit;
                report.windows_over_limit += 1;
            }
        }
    }
    report.drift = if report.oracle_admitted == 0 {
        0.0
    } else {
        (report.admitted as f64 - report.oracle_admitted as f64) / report.oracle_admitted as f64
    };
    report
}

/// The node's sliding-window counter (`check.lua`) for one key and one window, in memory.
#[derive(Debug, Default)]
struct SlidingCounter {
    window: u64,
    current: u64,
    previous: u64,
}

impl SlidingCounter {
    /// Decides `cost` at `now_ms`, counting it when admitted.
    fn admit(&mut self, now_ms: u64, cost: u64, limit: u64, win: u64) -> bool {
        let w = now_ms / win;
        if w != self.window {
            self.previous = if w == self.window + 1 {
                self.current
            } else {
                0
            };
            self.current = 0;
            self.window = w;
        }
        let elapsed = now_ms - w * win;
        let used = self.previous as f64 * (win - elapsed) as f64 / win as f64 + self.current as f64;
        if used + cost as f64 > limit as f64 {
            return false;
        }
        self.current += cost;
        true
    }
}

/// Whether a `/v1/check` answer body says it was decided by the failure mode.
pub(crate) fn is_degraded(body: &[u8]) -> bool {
    const FIELD: &[u8] = b"\"degraded\":\"";
    body.windows(FIELD.len()).any(|w| w == FIELD)
}

/// `reset_after_ms` of a `/v1/check` answer body, read without a JSON parser (the load
/// generator shares the cores with what it measures).
pub(crate) fn reset_after_ms(body: &[u8]) -> Option<u64> {
    const FIELD: &[u8] = b"\"reset_after_ms\":";
    let at = body.windows(FIELD.len()).position(|w| w == FIELD)? + FIELD.len();
    let digits: &[u8] = &body[at..];
    let end = digits
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(digits.len());
    std::str::from_utf8(&digits[..end]).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: OraclePolicy = OraclePolicy {
        limit: 10,
        window_ms: 1_000,
    };

    fn sample(key: u64, at_ms: u64, allowed: bool) -> Sample {
        Sample {
            key,
            at_ms,
            allowed,
            reset_after_ms: Some(1_000 - at_ms % 1_000),
            degraded: false,
        }
    }

    #[test]
    fn an_exact_run_matches_the_oracle() {
        // 30 requests in the first 300 ms of window 5: the first 10 admitted.
        let samples: Vec<Sample> = (0..30).map(|i| sample(3, 5_000 + i * 10, i < 10)).collect();
        let r = analyse(samples, POLICY, 1);
        assert_eq!((r.keys, r.decisions, r.admitted), (1, 30, 10));
        assert_eq!(r.oracle_admitted, 10);
        assert_eq!(r.drift, 0.0);
        assert_eq!((r.over_admission, r.windows_over_limit), (0, 0));
        assert_eq!(r.bound, 10);
    }

    #[test]
    fn over_admission_is_counted_per_fixed_window() {
        let mut samples: Vec<Sample> = (0..12).map(|i| sample(1, 100 + i, true)).collect();
        samples.extend((0..5).map(|i| sample(2, 1_100 + i, true)));
        let r = analyse(samples, POLICY, 1);
        assert_eq!((r.over_admission, r.windows_over_limit), (2, 1));
        assert_eq!(r.admitted, 17);
        assert_eq!(r.oracle_admitted, 15);
        assert!((r.drift - 2.0 / 15.0).abs() < 1e-9);
    }

    #[test]
    fn the_previous_window_weighs_on_the_next() {
        // 10 admitted at the end of window 0; at 250 ms into window 1 the estimate is
        // 10 × 0.75 + 0 = 7.5, so only 2 more fit (7.5 + 3 > 10).
        let mut samples: Vec<Sample> = (0..10).map(|i| sample(1, 990 + i, true)).collect();
        samples.extend((0..5).map(|i| sample(1, 1_250, i < 2)));
        let r = analyse(samples, POLICY, 1);
        assert_eq!(r.oracle_admitted, 12);
        assert_eq!(r.admitted, 12);
    }

    #[test]
    fn reset_after_is_read_from_the_body() {
        let body =
            br#"{"allowed":true,"limit":5,"remaining":4,"reset_after_ms":734,"retry_after_ms":0}"#;
        assert_eq!(reset_after_ms(body), Some(734));
        assert_eq!(reset_after_ms(b"{\"status\":\"ok\"}"), None);
        assert!(is_degraded(br#"{"allowed":true,"degraded":"local"}"#));
        assert!(!is_degraded(body));
    }
}
