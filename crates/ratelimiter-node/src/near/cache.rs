//! [`NearCache`]: the entries of every key, in shards under their own locks, bounded in bytes,
//! with one in-flight lease call per key (single flight). Time is passed in (µs of the node's
//! monotonic clock, [`NearCache::now_us`]).
//!
//! **Memory.** Each shard may hold `max_bytes / SHARDS` of estimated bytes ([`Entry::size`]);
//! past it, the oldest entries of that shard (by insertion, a FIFO queue) are evicted. So the
//! whole cache stays under `max_bytes` by construction. An evicted lease's unspent units are
//! lost quota (under-admission within the 1 % bound), never over-admission.
//!
//! **Invalidation.** [`NearCache::invalidate_all`] (a policy change, a counter reset anywhere)
//! drops every entry and bumps the generation; a Redis reply to a call started under an older
//! generation is not cached.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};

use ratelimiter_schema::{Policy, Window};
use tokio::sync::watch;

use super::entry::{CacheHit, Denial, Entry, Lease};
use super::shard::{FlightState, Shard};
use super::stats::NearStats;
use crate::algorithm::Outcome;
use crate::store::LeaseReply;

/// Shards of the cache (a power of two).
const SHARDS: usize = 64;

/// How one lookup went.
#[derive(Debug)]
pub enum Lookup<'a> {
    /// Answered from the cache.
    Hit(CacheHit, Outcome),
    /// Not answered; this request makes the key's one lease call (drop the flight after
    /// [`NearCache::record`]).
    Lead(Flight<'a>),
    /// Not answered; another request's lease call is in flight: wait for it, then look again.
    Wait(watch::Receiver<FlightState>),
    /// Not answered and no lease to take: one exact call (units wanted = cost).
    Exact,
}

/// The one in-flight lease call of a key; its waiters wake when it is dropped.
#[derive(Debug)]
pub struct Flight<'a> {
    cache: &'a NearCache,
    key: Arc<str>,
    tx: watch::Sender<FlightState>,
}

impl Flight<'_> {
    /// Tells the waiters that Redis failed (they then decide without waiting in line).
    pub fn failed(&self) {
        self.tx.send_replace(FlightState::Failed);
    }
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        self.cache.shard(&self.key).flights.remove(&self.key);
        self.tx.send_if_modified(|s| {
            let running = *s == FlightState::Running;
            if running {
                *s = FlightState::Done;
            }
            running
        });
    }
}

/// The near cache of one node: cached denials and leases, per user key.
#[derive(Debug)]
pub struct NearCache {
    shards: Box<[Mutex<Shard>]>,
    shard_budget: u64,
    max_bytes: u64,
    generation: AtomicU64,
    /// The reset epoch last read from Redis (`u64::MAX`: never).
    pub(crate) reset_epoch: AtomicU64,
    clock: tokio::time::Instant,
    /// Its counters and gauges.
    pub stats: NearStats,
}

impl NearCache {
    /// An empty cache holding at most `max_bytes` (estimated).
    pub fn new(max_bytes: u64) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            shard_budget: max_bytes / SHARDS as u64,
            max_bytes,
            generation: AtomicU64::new(0),
            reset_epoch: AtomicU64::new(u64::MAX),
            clock: tokio::time::Instant::now(),
            stats: NearStats::default(),
        }
    }

    /// The configured bound, bytes.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// The node's monotonic clock, µs since the cache was made (tokio time: paused in tests).
    pub fn now_us(&self) -> u64 {
        u64::try_from(self.clock.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// The generation: read it before a Redis call and pass it to [`NearCache::record`].
    pub fn generation(&self) -> u64 {
        self.generation.load(Relaxed)
    }

    fn shard(&self, key: &str) -> MutexGuard<'_, Shard> {
        // FNV-1a: cheap, and independent of the map's own hasher.
        let h = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        let i = usize::try_from(h >> 58).unwrap_or(0) % SHARDS;
        // A poisoned shard still holds consistent entries (each change is one statement).
        self.shards[i]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Answers a request of `cost` for `key` (under a policy of `windows`) from the cache, or
    /// says how to ask Redis: `want` is what that call would ask for (cost + lease size; equal
    /// to `cost` when no lease is to be taken).
    pub fn lookup(
        &self,
        key: &str,
        windows: &[Window],
        cost: u64,
        want: u64,
        now_us: u64,
    ) -> Lookup<'_> {
        let mut guard = self.shard(key);
        let shard = &mut *guard;
        let mut lease_blocks = false;
        if let Some(entry) = shard.map.get_mut(key) {
            let before = entry.size(key.len());
            let hit = self.answer(entry, windows, cost, now_us);
            lease_blocks = entry.lease.is_some();
            let after = if entry.is_empty() {
                0
            } else {
                entry.size(key.len())
            };
            if after != before {
                shard.bytes = shard.bytes - before + after;
                self.stats.bytes.fetch_sub(before - after, Relaxed);
            }
            if after == 0 {
                shard.map.remove(key);
                self.stats.entries.fetch_sub(1, Relaxed);
            }
            if let Some((kind, outcome)) = hit {
                return Lookup::Hit(kind, outcome);
            }
        }
        if want <= cost || lease_blocks {
            return Lookup::Exact;
        }
        if let Some(rx) = shard.flights.get(key) {
            return Lookup::Wait(rx.clone());
        }
        let key: Arc<str> = key.into();
        let (tx, rx) = watch::channel(FlightState::Running);
        shard.flights.insert(key.clone(), rx);
        drop(guard);
        Lookup::Lead(Flight {
            cache: self,
            key,
            tx,
        })
    }

    /// The answer of `entry` to a request, updating it (a lease spent, an ended lease or a
    /// denial that no longer holds dropped).
    fn answer(
        &self,
        entry: &mut Entry,
        windows: &[Window],
        cost: u64,
        now_us: u64,
    ) -> Option<(CacheHit, Outcome)> {
        if let Some(lease) = &mut entry.lease {
            if let Some(outcome) = lease.spend(cost, now_us) {
                self.stats.unspent.fetch_sub(cost, Relaxed);
                self.stats.leased.fetch_add(1, Relaxed);
                if lease.left == 0 {
                    entry.lease = None;
                }
                return Some((CacheHit::Leased, outcome));
            }
            if lease.is_over(now_us) {
                self.stats.unspent.fetch_sub(lease.left, Relaxed);
                entry.lease = None;
            }
        }
        if let Some(denial) = &entry.denial {
            if let Some(outcome) = denial.deny(windows, cost, now_us) {
                self.stats.denied.fetch_add(1, Relaxed);
                return Some((CacheHit::Denied, outcome));
            }
            entry.denial = None;
        }
        None
    }

    /// Caches what Redis answered a call for `key` under `policy` for a request of `cost`, sent
    /// at `sent_us` under `generation`: a lease of what was granted beyond the cost, or the
    /// denial with its counters. Nothing when the generation has moved on.
    pub fn record(
        &self,
        key: &str,
        policy: &Policy,
        cost: u64,
        generation: u64,
        sent_us: u64,
        reply: &LeaseReply,
    ) {
        let mut guard = self.shard(key);
        if generation != self.generation() {
            return;
        }
        let shard = &mut *guard;
        let fresh = !shard.map.contains_key(key);
        if fresh && reply.outcome.allowed && reply.granted <= cost {
            return; // an admission without lease: nothing to cache
        }
        if fresh {
            let k: Arc<str> = key.into();
            shard.order.push_back(k.clone());
            shard.map.insert(k, Entry::default());
            self.stats.entries.fetch_add(1, Relaxed);
        }
        let Some(entry) = shard.map.get_mut(key) else {
            return;
        };
        let before = if fresh { 0 } else { entry.size(key.len()) };
        if reply.outcome.allowed {
            entry.denial = None;
            let unspent = reply.granted.saturating_sub(cost);
            if unspent > 0 && entry.lease.is_none() {
                entry.lease = Some(Lease::granted(policy, sent_us, reply, unspent));
                self.stats.taken.fetch_add(1, Relaxed);
                self.stats.unspent.fetch_add(unspent, Relaxed);
            }
        } else {
            entry.denial = Some(Denial {
                sent_us,
                redis_ms: reply.redis_now_ms,
                counters: reply.counters.clone().into(),
            });
        }
        let after = if entry.is_empty() {
            0
        } else {
            entry.size(key.len())
        };
        shard.bytes = shard.bytes + after - before;
        if after >= before {
            self.stats.bytes.fetch_add(after - before, Relaxed);
        } else {
            self.stats.bytes.fetch_sub(before - after, Relaxed);
        }
        if after == 0 {
            shard.map.remove(key);
            self.stats.entries.fetch_sub(1, Relaxed);
        }
        shard.evict(self.shard_budget, &self.stats);
    }

    /// Drops the entry of `key` (its counters were reset by this node).
    pub fn remove(&self, key: &str) {
        let mut shard = self.shard(key);
        if let Some(entry) = shard.map.remove(key) {
            let size = entry.size(key.len());
            shard.bytes -= size;
            self.stats.bytes.fetch_sub(size, Relaxed);
            self.stats.entries.fetch_sub(1, Relaxed);
            if let Some(l) = entry.lease {
                self.stats.unspent.fetch_sub(l.left, Relaxed);
            }
        }
    }

    /// Drops every entry (a policy change, a counter reset somewhere): their leases' unspent
    /// units are lost quota until their windows end.
    pub fn invalidate_all(&self) {
        self.generation.fetch_add(1, Relaxed);
        for shard in &self.shards {
            let mut shard = shard
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for (key, entry) in shard.map.drain() {
                self.stats.bytes.fetch_sub(entry.size(key.len()), Relaxed);
                self.stats.entries.fetch_sub(1, Relaxed);
                if let Some(l) = entry.lease {
                    self.stats.unspent.fetch_sub(l.left, Relaxed);
                }
            }
            shard.order.clear();
            shard.bytes = 0;
        }
    }

    /// Takes every lease still spendable at `now_us` out of the cache (to give them back),
    /// with their keys.
    pub fn drain_leases(&self, now_us: u64) -> Vec<(Arc<str>, Lease)> {
        let mut out = Vec::new();
        for shard in &self.shards {
            let mut shard = shard
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let shard = &mut *shard;
            for (key, entry) in &mut shard.map {
                if let Some(lease) = entry.lease.take() {
                    self.stats.unspent.fetch_sub(lease.left, Relaxed);
                    if !lease.is_over(now_us) {
                        out.push((key.clone(), lease));
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
