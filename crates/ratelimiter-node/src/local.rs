//! The in-process limiter of the `local` failure mode: each policy at this node's share of the
//! limit, with the node's own clock, while Redis cannot answer.

use std::collections::HashMap;
use std::sync::Mutex;

use ratelimiter_schema::{Policy, Window};

use crate::algorithm::{self, Counter, Outcome};

/// Beyond this many counters, stale ones are dropped before adding more.
const MAX_ENTRIES: usize = 100_000;

/// Sliding-window counters kept in memory, keyed by (user key, policy).
#[derive(Debug, Default)]
pub struct LocalLimiter {
    counters: Mutex<HashMap<(String, String), Vec<Counter>>>,
}

impl LocalLimiter {
    /// Decides `cost` for `key` under `policy`, at `1 / nodes_up` of each limit (at least 1).
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
            })
            .collect();
        // A poisoned lock only means another request panicked mid-update; the counters are
        // still plain integers, so keep using them.
        let mut map = self
            .counters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= MAX_ENTRIES {
            map.retain(|(_, _), counters| {
                counters
                    .iter()
                    .zip(&windows)
                    .any(|(c, w)| c.index + 1 >= now_ms / w.window_ms.max(1))
            });
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
            .or_insert_with(|| vec![Counter::default(); windows.len()]);
        if entry.len() != windows.len() {
            *entry = vec![Counter::default(); windows.len()];
        }
        let outcome = algorithm::decide(entry, &windows, cost, now_ms);
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
            name: "hourly".into(),
            pattern: "*".into(),
            windows: vec![Window {
                limit: 10,
                window_ms: 3_600_000,
            }],
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
            name: "default".into(),
            pattern: "*".into(),
            windows: vec![Window {
                limit: 90,
                window_ms: 1000,
            }],
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
}
