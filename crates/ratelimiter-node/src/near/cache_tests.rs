//! Unit tests of [`NearCache`]: hits, single flight, invalidation and the memory bound.

use ratelimiter_schema::{Policy, PolicySpec, Window};

use super::*;
use crate::algorithm::Counter;

fn policy(limit: u64, window_ms: u64) -> Policy {
    Policy::new(
        "p",
        PolicySpec {
            pattern: Some("*".into()),
            windows: vec![Window { limit, window_ms }],
        },
    )
    .unwrap()
}

/// What lease.lua answers to an admission granting `granted` with `remaining` left.
fn granted(granted: u64, remaining: u64, reset_ms: u64) -> LeaseReply {
    LeaseReply {
        outcome: Outcome {
            allowed: true,
            reported: 0,
            retry_after_ms: 0,
            windows: vec![(remaining, reset_ms)],
        },
        redis_now_ms: 100_000 - reset_ms,
        granted,
        counters: vec![Counter {
            index: 99,
            current: granted,
            previous: 0,
        }],
    }
}

/// A denial with the window full (`limit` used) at `reset_ms` before the window ends (1 s).
fn denied(limit: u64, reset_ms: u64) -> LeaseReply {
    LeaseReply {
        outcome: Outcome {
            allowed: false,
            reported: 0,
            retry_after_ms: reset_ms,
            windows: vec![(0, reset_ms)],
        },
        redis_now_ms: 100_000 - reset_ms,
        granted: 0,
        counters: vec![Counter {
            index: 99,
            current: limit,
            previous: 0,
        }],
    }
}

#[test]
fn a_lease_is_spent_locally_then_the_key_goes_back_to_redis() {
    let cache = NearCache::new(1 << 20);
    let p = policy(3000, 1000);
    let Lookup::Lead(flight) = cache.lookup("k", &p.windows, 1, 10, 0) else {
        panic!("first sight leads")
    };
    cache.record("k", &p, 1, cache.generation(), 0, &granted(10, 2990, 500));
    drop(flight);
    assert_eq!(cache.stats.unspent.load(Relaxed), 9);
    for i in 0..9 {
        match cache.lookup("k", &p.windows, 1, 10, 1000) {
            Lookup::Hit(CacheHit::Leased, o) => {
                assert!(o.allowed);
                assert_eq!(o.windows[0].0, 2990 + 8 - i, "remaining counts the lease");
            }
            other => panic!("{i}: {other:?}"),
        }
    }
    assert_eq!(cache.stats.unspent.load(Relaxed), 0);
    assert!(matches!(
        cache.lookup("k", &p.windows, 1, 10, 1000),
        Lookup::Lead(_)
    ));
}

#[test]
fn a_lease_ends_before_its_window_does() {
    let cache = NearCache::new(1 << 20);
    let p = policy(3000, 1000);
    let flight = cache.lookup("k", &p.windows, 1, 10, 0);
    cache.record("k", &p, 1, cache.generation(), 0, &granted(10, 2990, 500));
    drop(flight);
    assert!(matches!(
        cache.lookup("k", &p.windows, 1, 10, 497_999),
        Lookup::Hit(CacheHit::Leased, _)
    ));
    assert!(matches!(
        cache.lookup("k", &p.windows, 1, 10, 498_000),
        Lookup::Lead(_)
    ));
    assert_eq!(cache.stats.unspent.load(Relaxed), 0, "the rest is forfeit");
}

#[test]
fn concurrent_misses_wait_for_one_flight() {
    let cache = NearCache::new(1 << 20);
    let p = policy(3000, 1000);
    let Lookup::Lead(flight) = cache.lookup("k", &p.windows, 1, 10, 0) else {
        panic!()
    };
    let Lookup::Wait(mut rx) = cache.lookup("k", &p.windows, 1, 10, 0) else {
        panic!("second waits")
    };
    assert_eq!(*rx.borrow(), FlightState::Running);
    flight.failed();
    drop(flight);
    assert!(rx.has_changed().unwrap_or(true));
    assert_eq!(*rx.borrow_and_update(), FlightState::Failed);
    assert!(matches!(
        cache.lookup("k", &p.windows, 1, 10, 0),
        Lookup::Lead(_)
    ));
    // Exact keys (want = cost) never wait.
    assert!(matches!(
        cache.lookup("e", &p.windows, 1, 1, 0),
        Lookup::Exact
    ));
}

#[test]
fn a_denial_is_answered_until_redis_would_admit() {
    let cache = NearCache::new(1 << 20);
    let p = policy(100, 1000);
    cache.record("d", &p, 1, cache.generation(), 0, &denied(100, 300));
    // Window ends at Redis 100_000; then the previous 100 decay: room for one at 100_010.
    match cache.lookup("d", &p.windows, 1, 1, 0) {
        Lookup::Hit(CacheHit::Denied, o) => {
            assert!(!o.allowed);
            assert_eq!(o.retry_after_ms, 309);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        cache.lookup("d", &p.windows, 1, 1, 308_000),
        Lookup::Hit(CacheHit::Denied, _)
    ));
    assert!(matches!(
        cache.lookup("d", &p.windows, 1, 1, 309_000),
        Lookup::Exact
    ));
    assert_eq!(cache.stats.entries.load(Relaxed), 0);
    assert_eq!(cache.stats.bytes.load(Relaxed), 0);
}

#[test]
fn invalidation_drops_everything_and_refuses_late_replies() {
    let cache = NearCache::new(1 << 20);
    let p = policy(100, 1000);
    let before = cache.generation();
    cache.record("a", &p, 1, before, 0, &denied(100, 300));
    cache.invalidate_all();
    assert_eq!(cache.stats.entries.load(Relaxed), 0);
    assert!(matches!(
        cache.lookup("a", &p.windows, 1, 1, 0),
        Lookup::Exact
    ));
    cache.record("b", &p, 1, before, 0, &denied(100, 300));
    assert_eq!(cache.stats.entries.load(Relaxed), 0, "a reply from before");
    cache.record("c", &p, 1, cache.generation(), 0, &denied(100, 300));
    cache.remove("c");
    assert_eq!(cache.stats.entries.load(Relaxed), 0);
}

#[test]
fn leases_are_drained_for_the_give_back() {
    let cache = NearCache::new(1 << 20);
    let p = policy(3000, 1000);
    cache.record("k", &p, 1, cache.generation(), 0, &granted(10, 2990, 500));
    let leases = cache.drain_leases(1000);
    assert_eq!(leases.len(), 1);
    assert_eq!(leases[0].1.left, 9);
    assert_eq!(&*leases[0].1.windows, &[(1000, 99)]);
    assert_eq!(cache.stats.unspent.load(Relaxed), 0);
    assert!(cache.drain_leases(1000).is_empty());
}

#[test]
fn a_million_distinct_keys_stay_under_the_bound() {
    let max = 4 * 1024 * 1024;
    let cache = NearCache::new(max);
    let p = policy(100, 60_000);
    let mut key = String::with_capacity(32);
    for i in 0..1_000_000_u32 {
        key.clear();
        key.push_str("user:");
        key.push_str(&i.to_string());
        let reply = if i % 2 == 0 {
            denied(100, 300)
        } else {
            granted(10, 50, 300)
        };
        cache.record(&key, &p, 1, 0, 0, &reply);
        if i % 50_000 == 0 {
            assert!(cache.stats.bytes.load(Relaxed) <= max);
        }
    }
    let bytes = cache.stats.bytes.load(Relaxed);
    let entries = cache.stats.entries.load(Relaxed);
    assert!(bytes <= max, "{bytes} > {max}");
    assert!(bytes > max / 2, "the bound is used: {bytes}");
    assert!(entries > 10_000 && entries < 1_000_000, "{entries}");
    assert_eq!(
        cache.stats.evictions.load(Relaxed),
        1_000_000 - entries,
        "every key beyond the bound was evicted"
    );
    // The estimate matches the entries held.
    let summed: u64 = cache.shards.iter().map(|s| s.lock().unwrap().bytes).sum();
    assert_eq!(summed, bytes);
    let queued: usize = cache
        .shards
        .iter()
        .map(|s| s.lock().unwrap().order.len())
        .sum();
    assert!(queued <= 2 * usize::try_from(entries).unwrap() + 64 * 64);
}

#[tokio::test]
async fn sixty_four_concurrent_misses_make_one_lease_call_per_ten() {
    let cache = std::sync::Arc::new(NearCache::new(1 << 20));
    let p = std::sync::Arc::new(policy(3000, 1000));
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..64 {
        let (cache, p, calls) = (cache.clone(), p.clone(), calls.clone());
        tasks.spawn(async move {
            loop {
                match cache.lookup("hot", &p.windows, 1, 10, 0) {
                    Lookup::Hit(kind, o) => return (kind == CacheHit::Leased) && o.allowed,
                    Lookup::Lead(flight) => {
                        let generation = cache.generation();
                        // The Redis call: the others run meanwhile.
                        for _ in 0..10 {
                            tokio::task::yield_now().await;
                        }
                        calls.fetch_add(1, Relaxed);
                        cache.record("hot", &p, 1, generation, 0, &granted(10, 2000, 500));
                        drop(flight);
                        return true;
                    }
                    Lookup::Wait(mut rx) => {
                        let _ = rx.wait_for(|s| *s != FlightState::Running).await;
                    }
                    Lookup::Exact => panic!("a leasing key is never exact here"),
                }
            }
        });
    }
    let answers = tasks.join_all().await;
    assert!(answers.iter().all(|ok| *ok));
    // 64 requests, 10 per lease call (the caller's unit and 9 leased): 7 calls, one at a time.
    assert_eq!(calls.load(Relaxed), 7);
    assert_eq!(cache.stats.leased.load(Relaxed), 64 - 7);
}
