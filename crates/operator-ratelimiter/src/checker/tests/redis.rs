//! `redis_healthy` and `no_stuck_keys`.

use operator_core::{InvariantChecker, Severity, Unknown};

use super::{check, names};
use crate::checker::sample::{healthy, history};
use crate::checker::*;
use crate::observation::{KeyKind, RedisView, StuckKey};

#[test]
fn redis_unreachable_is_critical_and_freezes_what_needs_redis() {
    let mut o = healthy(1000);
    o.redis = RedisView {
        url: o.redis.url.clone(),
        error: Some("connection refused".into()),
        ..Default::default()
    };
    for n in &mut o.nodes {
        n.ready = Some(false);
        n.ready_reason = Some("503: redis unreachable".into());
    }
    let v = check(&o, vec![healthy(0)]);
    assert_eq!(
        names(&v),
        ["redis_healthy"],
        "nodes not ready because of Redis are not node_down"
    );
    assert_eq!(v[0].severity, Severity::Critical);
    assert!(
        v[0].message.contains("connection refused"),
        "{}",
        v[0].message
    );
    let unknown = RateLimiterChecker::default().unknown(&o, &history(vec![]));
    for u in [
        Unknown::invariant(NO_STUCK_KEYS),
        Unknown::invariant(CONFIG_LOADED),
        Unknown::entity(NODE_DOWN, "127.0.0.1:8001"),
    ] {
        assert!(unknown.contains(&u), "{u:?} not in {unknown:?}");
    }
}

#[test]
fn redis_degradations_fold_into_one_violation_at_the_worst_severity() {
    let mut before = healthy(0);
    before.redis.ping_us = Some(70_000);
    let mut o = healthy(500);
    o.redis.ping_us = Some(80_000);
    let info = o.redis.info.as_mut().unwrap();
    info.evicted_keys = 7;
    info.used_memory = 95;
    info.maxmemory = 100;
    let v = check(&o, vec![before]);
    assert_eq!(names(&v), ["redis_healthy"]);
    assert_eq!(v[0].severity, Severity::Critical, "evictions are critical");
    for part in ["PING took 80.0 ms", "evicted 7 keys", "95% of maxmemory"] {
        assert!(v[0].message.contains(part), "{part}: {}", v[0].message);
    }
    // Evictions counted by another Redis (restart) are not new evictions.
    let mut restarted = o.clone();
    restarted.redis.info.as_mut().unwrap().run_id = "r2".into();
    restarted.redis.ping_us = Some(100);
    restarted.redis.info.as_mut().unwrap().used_memory = 1;
    assert!(
        check(&restarted, vec![healthy(0)])
            .iter()
            .all(|v| v.invariant != REDIS_HEALTHY)
    );
}

#[test]
fn one_slow_ping_is_not_a_slow_redis() {
    let mut o = healthy(500);
    o.redis.ping_us = Some(90_000);
    assert!(
        check(&o, vec![healthy(0)]).is_empty(),
        "a busy host delays one PING now and then"
    );
    let mut before = healthy(0);
    before.redis.ping_us = Some(60_000);
    assert_eq!(
        names(&check(&o, vec![before])),
        ["redis_healthy"],
        "sustained: reported"
    );
}

#[test]
fn replica_is_critical() {
    let mut o = healthy(0);
    o.redis.info.as_mut().unwrap().role = "slave".into();
    let v = check(&o, vec![]);
    assert_eq!(v[0].severity, Severity::Critical);
    assert!(v[0].message.contains("replica"));
}

#[test]
fn stuck_keys_are_named() {
    let mut o = healthy(0);
    let keys = o.redis.keys.as_mut().unwrap();
    keys.stuck = (0..7)
        .map(|i| StuckKey {
            key: format!("ratelimit:junk{i}"),
            kind: KeyKind::Other,
        })
        .collect();
    keys.stuck_total = 7;
    let v = check(&o, vec![]);
    assert_eq!(names(&v), ["no_stuck_keys"]);
    assert!(
        v[0].message
            .starts_with("7 keys under \"ratelimit:\" have no TTL"),
        "{}",
        v[0].message
    );
    assert!(
        v[0].message.contains("ratelimit:junk0") && v[0].message.contains("and 2 more"),
        "{}",
        v[0].message
    );
}
