//! Rules about Redis itself.

use operator_core::Violation;
use operator_core::context::ContextSection;
use ratelimiter_schema::FailureDecisions;
use serde_json::json;

use super::{actions, context_for, diagnose, ticket, with_ticket};
use crate::checker::sample::{at, healthy};
use crate::checker::*;
use crate::error::ErrorKind;
use crate::observation::{KeyKind, Observation, RedisView, StuckKey};

fn redis_down(error: &str, kind: ErrorKind) -> Observation {
    let mut o = healthy(1000);
    o.redis = RedisView {
        url: o.redis.url.clone(),
        error: Some(error.into()),
        error_kind: Some(kind),
        ..Default::default()
    };
    for n in &mut o.nodes {
        n.ready = Some(false);
        n.ready_reason = Some("503 Service Unavailable: redis does not answer".into());
        let i = n.info.as_mut().unwrap();
        i.redis_ok = false;
        i.failure_decisions = FailureDecisions {
            open: 0,
            local: 25,
            closed: 0,
        };
    }
    o
}

#[test]
fn redis_killed_is_redis_down_with_no_action() {
    let o = redis_down(
        "redis: Connection refused (os error 111)",
        ErrorKind::Refused,
    );
    let r = diagnose(&context_for(&o, vec![healthy(0)], "redis_healthy", vec![]));
    assert_eq!(r.rule.as_deref(), Some("redis_down"));
    assert!(
        r.diagnosis.root_cause.contains("is down"),
        "{}",
        r.diagnosis.root_cause
    );
    assert!(r.diagnosis.root_cause.contains("refused"));
    assert!(
        r.diagnosis.actions.is_empty(),
        "no declared action restarts Redis"
    );
    assert!(
        r.diagnosis
            .evidence
            .iter()
            .any(|c| c.source == "ticket.evidence.error")
    );
    assert!(
        r.diagnosis.summary.contains("3 nodes report Redis down"),
        "{}",
        r.diagnosis.summary
    );
    // The nodes deciding by their failure mode are a symptom of the same cause.
    let r = diagnose(&context_for(
        &o,
        vec![healthy(0)],
        "over_admission[127.0.0.1:8001]",
        vec![],
    ));
    assert_eq!(r.rule.as_deref(), Some("redis_down"));
    assert!(r.diagnosis.summary.contains("symptom"));
    // Frozen rather than dead.
    let o = redis_down("redis did not answer within 300 ms", ErrorKind::TimedOut);
    let r = diagnose(&context_for(&o, vec![healthy(0)], "redis_healthy", vec![]));
    assert!(r.diagnosis.root_cause.contains("does not answer in time"));
}

#[test]
fn keys_without_ttl_are_repaired() {
    let mut o = healthy(0);
    let k = o.redis.keys.as_mut().unwrap();
    k.stuck = vec![StuckKey {
        key: "ratelimit:leftover".into(),
        kind: KeyKind::Other,
    }];
    k.stuck_total = 1;
    let r = diagnose(&context_for(&o, vec![], "no_stuck_keys", vec![]));
    assert_eq!(r.rule.as_deref(), Some("keys_without_ttl"));
    assert_eq!(
        actions(&r),
        [json!({"action": "repair_stuck_keys", "args": {}})]
    );
    assert!(r.diagnosis.root_cause.contains("another writer"));
}

#[test]
fn eviction_under_maxmemory() {
    let mut before = healthy(0);
    let i = before.redis.info.as_mut().unwrap();
    i.evicted_keys = 10;
    i.maxmemory = 1_000_000;
    i.used_memory = 990_000;
    i.maxmemory_policy = "allkeys-lru".into();
    let mut o = before.clone();
    o.observed_at = at(500);
    o.redis.info.as_mut().unwrap().evicted_keys = 60;
    let r = diagnose(&context_for(&o, vec![before], "redis_healthy", vec![]));
    assert_eq!(r.rule.as_deref(), Some("eviction_under_maxmemory"));
    assert!(
        r.diagnosis.summary.contains("evicted 50 keys"),
        "{}",
        r.diagnosis.summary
    );
}

#[test]
fn a_flushed_script_cache_explains_slow_decisions() {
    let mut before = healthy(0);
    before.redis.info.as_mut().unwrap().cached_scripts = 2;
    let mut o = healthy(500);
    o.redis.info.as_mut().unwrap().cached_scripts = 0;
    let v = Violation::new(
        HIGH_LATENCY,
        operator_core::Severity::Warning,
        "node 127.0.0.1:8001 decision p99 is 40.0 ms",
    )
    .entity("127.0.0.1:8001")
    .evidence(json!({"p99_ms": 40.0}));
    let extra = vec![ContextSection::new(
        "redis_info",
        "",
        json!({"errorstat_NOSCRIPT": "count=3"}),
    )];
    let ctx = with_ticket(ticket(&v, 1), &o, vec![before], &[], extra);
    let r = diagnose(&ctx);
    assert_eq!(r.rule.as_deref(), Some("script_cache_flushed"));
    assert!(
        r.diagnosis
            .evidence
            .iter()
            .any(|c| c.source == "extra.redis_info.errorstat_NOSCRIPT")
    );
    assert!(r.diagnosis.actions.is_empty());
}

#[test]
fn a_slow_ping_names_a_slow_redis_and_noscript_errors_alone_are_no_flush() {
    let before = healthy(0);
    let mut o = healthy(500);
    o.redis.ping_us = Some(80_000);
    let v = Violation::new(
        HIGH_LATENCY,
        operator_core::Severity::Warning,
        "node 127.0.0.1:8001 decision p99 is 95.0 ms",
    )
    .entity("127.0.0.1:8001")
    .evidence(json!({"p99_ms": 95.0}));
    // Every node's first EVALSHA on a Redis gets a NOSCRIPT: a stack always has some.
    let extra = vec![ContextSection::new(
        "redis_info",
        "",
        json!({"errorstat_NOSCRIPT": "count=3"}),
    )];
    let ctx = with_ticket(ticket(&v, 1), &o, vec![before], &[], extra);
    let r = diagnose(&ctx);
    assert_eq!(r.rule.as_deref(), Some("redis_slow_for_nodes"));
    assert!(
        r.diagnosis.evidence.iter().any(
            |c| c.source.ends_with("observation.redis.ping_us") && c.detail.contains("80.0 ms")
        ),
        "{:?}",
        r.diagnosis.evidence
    );
}
