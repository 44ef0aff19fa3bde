//! One key's cache entry and how it answers, as pure functions of the entry, the request and
//! the node's monotonic clock (µs, passed in).
//!
//! Redis time is never read here: an entry keeps the Redis time of the reply that made it
//! (`redis_now_ms`) and the node's clock when that call was *sent*. Redis computed its time
//! after the send, so `redis_now_ms + (now − sent) + 1 ms` is an upper bound of Redis time now.
//! Upper bounds err the safe way on both sides: a cached denial ends early (the next request
//! goes to Redis, which decides exactly) and a lease ends before its window does (no unit is
//! spent in a window other than the one it was counted in).

use std::sync::Arc;

use ratelimiter_schema::{Policy, Window};

use crate::algorithm::{self, Counter, Outcome};
use crate::store::LeaseReply;

/// What answered a cached decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheHit {
    /// A denial re-decided from the counters Redis returned with an earlier denial.
    Denied,
    /// An admission spent from this node's lease (counted in Redis when leased).
    Leased,
}

/// Units counted in Redis for this node and not spent yet; they end with their window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// Units left.
    pub left: u64,
    /// The node's clock when the lease call was sent, µs.
    pub taken_us: u64,
    /// The node's clock past which the lease is no longer spent, µs (before its window ends).
    pub ends_us: u64,
    /// The policy it was taken under.
    pub policy: Arc<str>,
    /// Per window: (window_ms, window index) it was counted in.
    pub windows: Box<[(u64, u64)]>,
    /// Per window, as Redis answered the lease: (remaining after it, ms until the window ends).
    pub reported: Box<[(u64, u64)]>,
}

/// A denial and the counters Redis returned with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// The node's clock when the call was sent, µs.
    pub sent_us: u64,
    /// Redis time of the denial, ms.
    pub redis_ms: u64,
    /// Every window's counter as Redis had it.
    pub counters: Box<[Counter]>,
}

/// One key's entry: a lease, a denial, or both (a lease too small for a larger cost).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    /// This node's lease.
    pub lease: Option<Lease>,
    /// The last denial.
    pub denial: Option<Denial>,
}

/// Rough bytes of one entry beyond its key and windows: the map slot, the key's `Arc` (in the
/// map and the eviction queue), the entry itself and allocator overhead.
pub const ENTRY_OVERHEAD_BYTES: u64 = 160;
/// Rough bytes per window of a lease or a denial.
pub const WINDOW_BYTES: u64 = 40;

impl Entry {
    /// Whether it holds nothing (and can be dropped).
    pub fn is_empty(&self) -> bool {
        self.lease.is_none() && self.denial.is_none()
    }

    /// Estimated bytes of this entry under a key of `key_len` bytes.
    pub fn size(&self, key_len: usize) -> u64 {
        let mut bytes = ENTRY_OVERHEAD_BYTES + u64::try_from(key_len).unwrap_or(u64::MAX);
        if let Some(l) = &self.lease {
            bytes += 32 + u64::try_from(l.policy.len() + l.windows.len() * 2).unwrap_or(0) * 8;
            bytes += WINDOW_BYTES * u64::try_from(l.windows.len()).unwrap_or(0);
        }
        if let Some(d) = &self.denial {
            bytes += WINDOW_BYTES * u64::try_from(d.counters.len()).unwrap_or(0);
        }
        bytes
    }
}

/// Upper bound of Redis time at the node's `now_us`, from a reply made at `redis_ms` to a call
/// sent at `sent_us`.
pub fn redis_time_upper(redis_ms: u64, sent_us: u64, now_us: u64) -> u64 {
    redis_ms + now_us.saturating_sub(sent_us).div_ceil(1000) + 1
}

impl Lease {
    /// The lease of `unspent` units granted by `reply` to a call sent at `sent_us` under
    /// `policy`: it is spent only while the upper bound of Redis time is before the end of the
    /// first of its windows to end.
    pub fn granted(policy: &Policy, sent_us: u64, reply: &LeaseReply, unspent: u64) -> Self {
        let first_end_ms = reply
            .outcome
            .windows
            .iter()
            .map(|&(_, reset)| reset)
            .min()
            .unwrap_or(0);
        Self {
            left: unspent,
            taken_us: sent_us,
            ends_us: sent_us + first_end_ms.saturating_sub(2) * 1000,
            policy: policy.name.as_str().into(),
            windows: policy
                .windows
                .iter()
                .zip(&reply.counters)
                .map(|(w, c)| (w.window_ms, c.index))
                .collect(),
            reported: reply.outcome.windows.clone().into(),
        }
    }

    /// Spends `cost` if the lease is still on at `now_us` and holds that much: the admission,
    /// reported as Redis would (remaining counts the units still leased).
    pub fn spend(&mut self, cost: u64, now_us: u64) -> Option<Outcome> {
        if now_us >= self.ends_us || self.left < cost {
            return None;
        }
        self.left -= cost;
        let elapsed_ms = (now_us.saturating_sub(self.taken_us)) / 1000;
        let windows: Vec<(u64, u64)> = self
            .reported
            .iter()
            .map(|&(rem, reset)| (rem + self.left, reset.saturating_sub(elapsed_ms).max(1)))
            .collect();
        Some(Outcome::admitted(windows))
    }

    /// Whether it can no longer be spent at `now_us`.
    pub fn is_over(&self, now_us: u64) -> bool {
        now_us >= self.ends_us || self.left == 0
    }
}

impl Denial {
    /// The denial of a request of `cost` at `now_us` if Redis would still deny it: the counters
    /// Redis returned, aged to an upper bound of Redis time. Other nodes only add usage and
    /// usage only decays with time, so this denies nothing Redis would admit — except the units
    /// a counter reset removed, which the reset's invalidation covers. `None`: ask Redis.
    pub fn deny(&self, windows: &[Window], cost: u64, now_us: u64) -> Option<Outcome> {
        if self.counters.len() != windows.len() {
            return None;
        }
        let at = redis_time_upper(self.redis_ms, self.sent_us, now_us);
        let mut counters = self.counters.to_vec();
        let outcome = algorithm::decide(&mut counters, windows, cost, at);
        (!outcome.allowed).then_some(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(limit: u64, window_ms: u64) -> Window {
        Window {
            limit,
            window_ms,
            burst: None,
        }
    }

    #[test]
    fn a_cached_denial_lasts_until_the_retry_after_and_answers_any_cost() {
        // Redis at t = 10_200 ms: 10 of 10 used in window 10 (1 s windows), nothing before.
        let windows = [w(10, 1000)];
        let counters = [Counter {
            index: 10,
            current: 10,
            previous: 0,
        }];
        let mut redis_view = counters;
        let redis = algorithm::decide(&mut redis_view, &windows, 1, 10_200);
        assert_eq!(redis.retry_after_ms, 900);
        let d = Denial {
            sent_us: 5_000_000,
            redis_ms: 10_200,
            counters: counters.into(),
        };
        // The same answer as Redis at the same time (the 1 ms margin of the upper bound aside).
        let cached = d.deny(&windows, 1, 5_000_000).unwrap();
        assert_eq!(cached.retry_after_ms, 899);
        assert_eq!(cached.windows, vec![(0, 799)]);
        // A larger cost waits longer, exactly as Redis would say.
        let big = d.deny(&windows, 5, 5_000_000).unwrap();
        let mut again = counters;
        assert_eq!(
            big.retry_after_ms,
            algorithm::decide(&mut again, &windows, 5, 10_201).retry_after_ms
        );
        // Counting down, then gone at the retry_after (by the upper bound, 1 ms early).
        assert_eq!(
            d.deny(&windows, 1, 5_000_000 + 898_000)
                .unwrap()
                .retry_after_ms,
            1
        );
        assert!(d.deny(&windows, 1, 5_000_000 + 899_000).is_none());
    }

    #[test]
    fn a_lease_is_spent_until_empty_or_its_window_ends() {
        let mut l = Lease {
            left: 3,
            taken_us: 1_000_000,
            ends_us: 1_000_000 + 400_000,
            policy: "p".into(),
            windows: vec![(1000, 7)].into(),
            reported: vec![(50, 400)].into(),
        };
        let o = l.spend(2, 1_100_000).unwrap();
        assert_eq!((o.allowed, o.windows[0]), (true, (51, 300)));
        assert!(l.spend(2, 1_100_000).is_none(), "1 left");
        assert!(l.spend(1, 1_400_000).is_none(), "window over");
        assert!(l.spend(1, 1_399_999).is_some());
        assert!(l.is_over(1_399_999));
    }

    #[test]
    fn redis_time_is_bounded_from_above() {
        assert_eq!(redis_time_upper(1000, 0, 0), 1001);
        assert_eq!(redis_time_upper(1000, 0, 1), 1002);
        assert_eq!(redis_time_upper(1000, 5, 0), 1001, "clock before the send");
    }
}
