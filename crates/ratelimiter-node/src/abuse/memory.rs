//! The memory guard's state: on when Redis is above the ratio of its `maxmemory`, off again
//! below 95 % of that threshold (so it does not flap at the edge). Fed by the background
//! sampler; read by every decision (one relaxed load).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use ratelimiter_schema::MemoryGuardInfo;

use crate::store::RedisMemory;

/// Below `ratio × this` of `maxmemory` an active guard turns off.
const OFF_BELOW: f64 = 0.95;

/// The guard, shared by the sampler and the decisions.
#[derive(Debug)]
pub struct MemoryGuard {
    ratio: f64,
    active: AtomicBool,
    last: Mutex<Option<RedisMemory>>,
}

impl MemoryGuard {
    /// An inactive guard with `ratio` (0: never active).
    pub fn new(ratio: f64) -> Self {
        Self {
            ratio,
            active: AtomicBool::new(false),
            last: Mutex::new(None),
        }
    }

    /// Whether the guard samples at all.
    pub fn enabled(&self) -> bool {
        self.ratio > 0.0
    }

    /// Whether keys without a counter are limited in process now.
    pub fn is_active(&self) -> bool {
        self.active.load(Relaxed)
    }

    /// Takes a reading; returns the new state when it changed.
    pub fn update(&self, memory: RedisMemory) -> Option<bool> {
        *self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(memory);
        let was = self.is_active();
        let now = next_state(self.ratio, was, memory);
        (now != was).then(|| {
            self.active.store(now, Relaxed);
            now
        })
    }

    /// The state for `/v1/node`, with the decisions taken under it.
    pub fn info(&self, guarded_decisions: u64) -> MemoryGuardInfo {
        let last = *self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        MemoryGuardInfo {
            ratio: self.ratio,
            active: self.is_active(),
            used_memory: last.map(|m| m.used),
            maxmemory: last.map(|m| m.max),
            guarded_decisions,
        }
    }
}

/// The guard's next state after a reading: never on without a `maxmemory` or with ratio 0.
pub fn next_state(ratio: f64, active: bool, m: RedisMemory) -> bool {
    if ratio <= 0.0 || m.max == 0 {
        return false;
    }
    let used = m.used as f64 / m.max as f64;
    if active {
        used >= ratio * OFF_BELOW
    } else {
        used >= ratio
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mem(used: u64, max: u64) -> RedisMemory {
        RedisMemory { used, max }
    }

    #[test]
    fn turns_on_above_the_ratio_and_off_with_hysteresis() {
        let table = [
            // (ratio, active before, used, max, active after)
            (0.8, false, 79, 100, false),
            (0.8, false, 80, 100, true),
            (0.8, true, 77, 100, true),
            (0.8, true, 75, 100, false),
            (0.8, false, 1_000, 0, false),
            (0.0, false, 100, 100, false),
            (1.0, false, 100, 100, true),
        ];
        for (ratio, before, used, max, after) in table {
            assert_eq!(
                next_state(ratio, before, mem(used, max)),
                after,
                "{ratio} {before} {used}/{max}"
            );
        }
    }

    #[test]
    fn update_reports_changes_and_info_the_last_reading() {
        let g = MemoryGuard::new(0.5);
        assert_eq!(g.update(mem(10, 100)), None);
        assert_eq!(g.update(mem(60, 100)), Some(true));
        assert_eq!(g.update(mem(61, 100)), None);
        let info = g.info(7);
        assert!(info.active);
        assert_eq!((info.used_memory, info.maxmemory), (Some(61), Some(100)));
        assert_eq!(info.guarded_decisions, 7);
    }
}
