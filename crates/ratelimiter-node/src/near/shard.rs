//! One shard of the near cache: its entries, their insertion order (for eviction), their
//! estimated bytes, and the lease calls in flight.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use tokio::sync::watch;

use super::entry::Entry;
use super::stats::NearStats;

/// Where the in-flight lease call of a key is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlightState {
    /// Still running.
    Running,
    /// Answered (its result is cached, or not cacheable): look again.
    Done,
    /// Redis failed: do not queue behind another call, decide alone.
    Failed,
}

/// The entries of one shard. Kept by [`super::NearCache`] under one mutex.
#[derive(Debug, Default)]
pub(super) struct Shard {
    pub(super) map: HashMap<Arc<str>, Entry>,
    /// Keys in insertion order, for eviction; may hold keys since removed (skipped).
    pub(super) order: VecDeque<Arc<str>>,
    pub(super) bytes: u64,
    pub(super) flights: HashMap<Arc<str>, watch::Receiver<FlightState>>,
}

impl Shard {
    /// Evicts the oldest entries while over `budget` bytes, counting in `stats`.
    pub(super) fn evict(&mut self, budget: u64, stats: &NearStats) {
        while self.bytes > budget {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            let same = self
                .map
                .get_key_value(&*oldest)
                .is_some_and(|(k, _)| Arc::ptr_eq(k, &oldest));
            if !same {
                continue;
            }
            if let Some(entry) = self.map.remove(&*oldest) {
                let size = entry.size(oldest.len());
                self.bytes -= size;
                stats.bytes.fetch_sub(size, Relaxed);
                stats.entries.fetch_sub(1, Relaxed);
                stats.evictions.fetch_add(1, Relaxed);
                if let Some(l) = entry.lease {
                    stats.unspent.fetch_sub(l.left, Relaxed);
                }
            }
        }
        // Keys removed otherwise stay queued: rebuild the queue before it outgrows the map.
        if self.order.len() > 2 * self.map.len() + 64 {
            self.order = self.map.keys().cloned().collect();
        }
    }
}
