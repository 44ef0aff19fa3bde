//! Rules about the policies in Redis.

use serde_json::json;

use super::{actions, context_for, diagnose};
use crate::checker::sample::{at, healthy};

#[test]
fn policies_deleted_while_redis_runs_are_reseeded() {
    let mut o = healthy(1000);
    let p = o.redis.policies.as_mut().unwrap();
    p.present = false;
    p.version = None;
    p.digest = None;
    p.policies.clear();
    for n in &mut o.nodes {
        n.ready = Some(false);
        n.ready_reason =
            Some("503 Service Unavailable: redis holds no policies (being re-seeded)".into());
    }
    let r = diagnose(&context_for(
        &o,
        vec![healthy(0), healthy(500)],
        "config_loaded",
        vec![],
    ));
    assert_eq!(r.rule.as_deref(), Some("policies_deleted"));
    assert_eq!(
        actions(&r),
        [json!({"action": "reseed_policies", "args": {}})]
    );
    assert!(
        r.diagnosis
            .summary
            .contains("1 policies last seen at version 3"),
        "{}",
        r.diagnosis.summary
    );
    let alternatives: Vec<&str> = r
        .diagnosis
        .alternatives
        .iter()
        .map(|a| a.cause.as_str())
        .collect();
    assert!(
        alternatives.iter().any(|a| a.contains("restarted")),
        "{alternatives:?}"
    );
    // Not ready on two observations in a row: node_down (one alone is not yet).
    let mut before = o.clone();
    before.observed_at = at(500);
    let r = diagnose(&context_for(
        &o,
        vec![healthy(0), before],
        "node_down[127.0.0.1:8002]",
        vec![],
    ));
    assert_eq!(r.rule.as_deref(), Some("policies_deleted"));
    assert!(
        r.diagnosis
            .summary
            .starts_with("Node 127.0.0.1:8002 is not ready because")
    );
    assert_eq!(actions(&r).len(), 1);
}

#[test]
fn redis_restarted_empty_is_told_from_a_deletion_by_its_run_id() {
    let mut o = healthy(1000);
    let info = o.redis.info.as_mut().unwrap();
    info.run_id = "r2".into();
    info.uptime_s = 3;
    o.redis.policies.as_mut().unwrap().present = false;
    let r = diagnose(&context_for(&o, vec![healthy(0)], "config_loaded", vec![]));
    assert_eq!(r.rule.as_deref(), Some("redis_restarted_empty"));
    assert_eq!(
        actions(&r),
        [json!({"action": "reseed_policies", "args": {}})]
    );
    // Re-seeded by the nodes: the loss is of API changes, nothing to reseed.
    let mut o = healthy(5000);
    o.redis.info.as_mut().unwrap().run_id = "r2".into();
    let p = o.redis.policies.as_mut().unwrap();
    p.version = Some(1);
    p.digest = Some("seed".into());
    let r = diagnose(&context_for(&o, vec![healthy(0)], "config_loaded", vec![]));
    assert_eq!(r.rule.as_deref(), Some("redis_restarted_empty"));
    assert!(r.diagnosis.actions.is_empty());
}
