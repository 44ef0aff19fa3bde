//! The in-process limiter of the `local` failure mode: each policy at this node's share of the
//! limit, with the node's own clock, while Redis cannot answer.

use std::collections::HashMap;
use std::sync::Mutex;

use ratelimiter_schema::{Algorithm, Policy, Window};

use crate::algorithm::{self, Counter, Outcome};
use crate::gcra;

/// Beyond this many counters, stale ones are dropped before adding more.
const MAX_ENTRIES: usize = 100_000;

/// The in-process state of one (user key, policy), by the policy's algorithm.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// One counter per window.
    Sliding(Vec<Counter>),
    /// One theoretical arrival time per window, µs.
    Gcra(Vec<u64>),
}

impl State {
    fn fresh(algorithm: Algorithm, windows: usize) -> Self {
        match algorithm {
            Algorithm::SlidingWindow => Self::Sliding(vec![Counter::default(); windows]),
            Algorithm::Gcra => Self::Gcra(vec![0; windows]),
        }
    }

    /// Whether it still holds anything at `now_ms` (a counter of the current or previous
    /// window, a bucket not yet full again).
    fn live(&self, windows: &[Window], now_ms: u64) -> bool {
        match self {
            Self::Sliding(counters) => counters
                .iter()
                .zip(windows)
                .any(|(c, w)| c.index + 1 >= now_ms / w.window_ms.max(1)),
            Self::Gcra(tats) => tats.iter().any(|&t| t > now_ms.saturating_mul(1000)),
        }
    }

    fn fits(&self, algorithm: Algorithm, windows: usize) -> bool {
        match self {
            Self::Sliding(c) => algorithm == Algorithm::SlidingWindow && c.len() == windows,
            Self::Gcra(t) => algorithm == Algorithm::Gcra && t.len() == windows,
        }
    }
}

/// Counters (or GCRA buckets) kept in memory, keyed by (user key, policy).
#[derive(Debug, Default)]
pub struct LocalLimiter {
    counters: Mutex<HashMap<(String, String), State>>,
}

impl LocalLimiter {
    /// Decides `cost` for `key` under `policy`, at `1 / nodes_up` of each limit (at least 1),
    /// and of each burst under `gcra`.
    pub fn decide(
        &self,
        key: &str,
        policy: &Policy,
        cost: u64,
        nodes_up: usize,
        now_ms: u64,
    ) -> (Outcome, Vec<Window>) {
        let share = u64::try_from(nodes_up.max(1)).unwrap_or(1);
        let windows: Vec<Window> = policy
            .windows
            .iter()
            .map(|w| Window {
                limit: (w.limit / share).max(1),
                window_ms: w.window_ms,
                burst: w.burst.map(|b| (b / share).max(1)),
            })
            .collect();
        // A poisoned lock only means another request panicked mid-update; the counters are
        // still plain integers, so keep using them.
        let mut map = self
            .counters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= MAX_ENTRIES {
            map.retain(|(_, _), state| state.live(&windows, now_ms));
            if map.len() >= MAX_ENTRIES {
                // Every counter is still live (a flood of distinct keys under long windows): shed
                // a tenth, arbitrary ones, so memory stays bounded and the next sweep is 10 %
                // of inserts away. Those keys start afresh: in a failure mode, bounded memory
                // wins over exactness.
                let mut seen = 0usize;
                map.retain(|_, _| {
                    seen += 1;
                    seen > MAX_ENTRIES / 10
                });
            }
        }
        let entry = map
            .entry((key.to_owned(), policy.name.clone()))
            .or_insert_with(|| State::fresh(policy.algorithm, windows.len()));
        if !entry.fits(policy.algorithm, windows.len()) {
            *entry = State::fresh(policy.algorithm, windows.len());
        }
        let outcome = match entry {
            State::Sliding(counters) => algorithm::decide(counters, &windows, cost, now_ms),
            State::Gcra(tats) => gcra::decide(tats, &windows, cost, now_ms.saturating_mul(1000)),
        };
        (outcome, windows)
    }

    /// Forgets every counter (Redis is back: shared limiting resumes).
    pub fn clear(&self) {
        self.counters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_stays_bounded_when_every_counter_is_live() {
        let policy = Policy {
            algorithm: Default::default(),
            name: "hourly".into(),
            pattern: "*".into(),
            windows: vec![Window::new(10, 3_600_000)],
        };
        let local = LocalLimiter::default();
        for i in 0..(MAX_ENTRIES + MAX_ENTRIES / 2) {
            local.decide(&format!("k{i}"), &policy, 1, 1, 1_000);
        }
        let len = local.counters.lock().unwrap().len();
        assert!(len <= MAX_ENTRIES, "{len} counters kept");
    }

    #[test]
    fn enforces_the_share_of_the_limit() {
        let policy = Policy {
            algorithm: Default::default(),
            name: "default".into(),
            pattern: "*".into(),
            windows: vec![Window::new(90, 1000)],
        };
        let local = LocalLimiter::default();
        let allowed = (0..100)
            .filter(|_| local.decide("k", &policy, 1, 3, 5_000).0.allowed)
            .count();
        assert_eq!(allowed, 30);
        let (o, windows) = local.decide("other", &policy, 1, 0, 5_000);
        assert!(o.allowed);
        assert_eq!(windows[0].limit, 90, "no Up node known counts as one");
    }

    #[test]
    fn gcra_policies_get_a_bucket_at_the_share_of_limit_and_burst() {
        let policy = Policy {
            algorithm: Algorithm::Gcra,
            name: "api".into(),
            pattern: "*".into(),
            windows: vec![Window::new(90, 9_000).with_burst(30)],
        };
        let local = LocalLimiter::default();
        let allowed = (0..100)
            .filter(|_| local.decide("k", &policy, 1, 3, 5_000).0.allowed)
            .count();
        assert_eq!(allowed, 10, "a third of the burst of 30");
        // A third of 90 per 9 s: one unit back every 300 ms.
        assert!(!local.decide("k", &policy, 1, 3, 5_299).0.allowed);
        assert!(local.decide("k", &policy, 1, 3, 5_300).0.allowed);
    }
}
