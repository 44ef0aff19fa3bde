//! The brute-force throttle of the admin token: a pure table of wrong tokens per client address,
//! clocked by the caller.
//!
//! After [`MAX_FAILURES`] wrong tokens from one address within [`FAILURE_WINDOW_MS`], that address
//! is refused for [`BLOCK_MS`], even with the right token: guessing gets ten tries a minute, and a
//! guesser that finds the token while blocked cannot tell. The table holds at most
//! [`MAX_ADDRESSES`] addresses; when full, the address seen longest ago makes room (an attacker
//! spreading guesses over many addresses can evict its own entries, but then each address still
//! gets only ten tries a minute before it is seen again).

use std::collections::HashMap;
use std::net::IpAddr;

/// Wrong tokens allowed from one address within [`FAILURE_WINDOW_MS`].
pub const MAX_FAILURES: u32 = 10;
/// The window in which wrong tokens are counted, in ms.
pub const FAILURE_WINDOW_MS: u64 = 60_000;
/// How long an address is refused after too many wrong tokens, in ms.
pub const BLOCK_MS: u64 = 60_000;
/// Most addresses tracked at once.
pub const MAX_ADDRESSES: usize = 4_096;

/// What one address did lately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    /// Start of the current counting window.
    window_start_ms: u64,
    /// Wrong tokens in that window.
    failures: u32,
    /// Refused until then, when set.
    blocked_until_ms: Option<u64>,
    /// Last time the address was seen (for eviction).
    last_ms: u64,
}

/// Wrong tokens by address.
#[derive(Debug, Default)]
pub struct Throttle {
    entries: HashMap<IpAddr, Entry>,
}

impl Throttle {
    /// `Err(ms until the block ends)` when `addr` is refused at `now_ms`.
    ///
    /// # Errors
    /// The remaining block, in ms (at least 1).
    pub fn check(&self, addr: IpAddr, now_ms: u64) -> Result<(), u64> {
        match self.entries.get(&addr).and_then(|e| e.blocked_until_ms) {
            Some(until) if until > now_ms => Err(until - now_ms),
            _ => Ok(()),
        }
    }

    /// Counts one wrong token from `addr` at `now_ms`; whether the address is now blocked.
    pub fn record_failure(&mut self, addr: IpAddr, now_ms: u64) -> bool {
        if !self.entries.contains_key(&addr) && self.entries.len() >= MAX_ADDRESSES {
            self.evict_oldest();
        }
        let entry = self.entries.entry(addr).or_insert(Entry {
            window_start_ms: now_ms,
            failures: 0,
            blocked_until_ms: None,
            last_ms: now_ms,
        });
        entry.last_ms = now_ms;
        if entry.blocked_until_ms.is_some_and(|until| until <= now_ms) {
            entry.blocked_until_ms = None;
            entry.failures = 0;
            entry.window_start_ms = now_ms;
        }
        if now_ms.saturating_sub(entry.window_start_ms) >= FAILURE_WINDOW_MS {
            entry.window_start_ms = now_ms;
            entry.failures = 0;
        }
        entry.failures = entry.failures.saturating_add(1);
        if entry.failures >= MAX_FAILURES && entry.blocked_until_ms.is_none() {
            entry.blocked_until_ms = Some(now_ms + BLOCK_MS);
        }
        entry.blocked_until_ms.is_some()
    }

    /// Addresses refused at `now_ms`.
    pub fn blocked(&self, now_ms: u64) -> usize {
        self.entries
            .values()
            .filter(|e| e.blocked_until_ms.is_some_and(|u| u > now_ms))
            .count()
    }

    /// Addresses tracked.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }

    fn evict_oldest(&mut self) {
        // Prefer an address whose block is over; among those, or else, the one seen longest ago.
        let oldest = self
            .entries
            .iter()
            .min_by_key(|(_, e)| (e.blocked_until_ms.is_some(), e.last_ms))
            .map(|(a, _)| *a);
        if let Some(addr) = oldest {
            self.entries.remove(&addr);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u32) -> IpAddr {
        IpAddr::from(n.to_be_bytes())
    }

    #[test]
    fn ten_failures_in_a_minute_block_for_a_minute() {
        let mut t = Throttle::default();
        for i in 0..MAX_FAILURES - 1 {
            assert!(!t.record_failure(ip(1), u64::from(i) * 1000));
            assert_eq!(t.check(ip(1), u64::from(i) * 1000), Ok(()));
        }
        assert!(t.record_failure(ip(1), 9_500));
        assert_eq!(t.check(ip(1), 9_500), Err(BLOCK_MS));
        assert_eq!(t.check(ip(1), 9_500 + BLOCK_MS - 1), Err(1));
        assert_eq!(t.check(ip(2), 9_500), Ok(()), "other addresses are served");
        assert_eq!(t.blocked(10_000), 1);
        assert_eq!(t.check(ip(1), 9_500 + BLOCK_MS), Ok(()), "the block ends");
        assert!(
            !t.record_failure(ip(1), 9_500 + BLOCK_MS),
            "and counting restarts"
        );
    }

    #[test]
    fn failures_spread_over_more_than_a_minute_do_not_block() {
        let mut t = Throttle::default();
        for i in 0..100u64 {
            assert!(!t.record_failure(ip(1), i * 7_000), "failure {i}");
        }
    }

    #[test]
    fn the_table_is_bounded_and_keeps_blocked_addresses() {
        let mut t = Throttle::default();
        for _ in 0..MAX_FAILURES {
            t.record_failure(ip(0), 0);
        }
        for n in 1..=(MAX_ADDRESSES as u32 * 3) {
            t.record_failure(ip(n), u64::from(n));
        }
        assert_eq!(t.len(), MAX_ADDRESSES);
        assert!(
            t.check(ip(0), 100).is_err(),
            "the blocked address stays tracked"
        );
    }
}
