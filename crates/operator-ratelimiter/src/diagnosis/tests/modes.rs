//! Rules about the nodes' limiter modes.

use ratelimiter_schema::LimiterMode;

use super::{context_for, diagnose};
use crate::checker::sample::healthy;
use crate::observation::{Observation, OverAdmitted};

fn in_mode(mode: LimiterMode, nodes: &[usize]) -> Observation {
    let mut o = healthy(500);
    for &i in nodes {
        o.nodes[i].info.as_mut().unwrap().limiter_mode = mode;
    }
    o
}

#[test]
fn over_admission_by_naive_nodes_is_non_atomic_check_and_increment() {
    let mut o = in_mode(LimiterMode::Naive, &[0, 1, 2]);
    o.redis.keys.as_mut().unwrap().over_admitted = vec![OverAdmitted {
        key: "hot:1".into(),
        policy: "default".into(),
        window_ms: 60_000,
        count: 187,
        limit: 100,
    }];
    let r = diagnose(&context_for(
        &o,
        vec![healthy(0)],
        "over_admission[policy:default]",
        vec![],
    ));
    assert_eq!(r.rule.as_deref(), Some("non_atomic_check_and_increment"));
    assert!(
        r.diagnosis
            .root_cause
            .starts_with("non-atomic check-and-increment"),
        "{}",
        r.diagnosis.root_cause
    );
    let s = &r.diagnosis.summary;
    assert!(
        s.contains("Nodes n8001, n8002, n8003 decide in limiter mode naive"),
        "{s}"
    );
    assert!(s.contains("hot:1 admitted 187 of limit 100 (+87 %)"), "{s}");
    assert!(
        r.diagnosis.actions.is_empty(),
        "resetting counters is no cure: {:?}",
        r.diagnosis.actions
    );
    // One node's own ticket names it too.
    let r = diagnose(&context_for(
        &o,
        vec![healthy(0)],
        "over_admission[127.0.0.1:8002]",
        vec![],
    ));
    assert_eq!(r.rule.as_deref(), Some("non_atomic_check_and_increment"));
    assert!(
        r.diagnosis.summary.contains("Node n8002 decides"),
        "{}",
        r.diagnosis.summary
    );
}

#[test]
fn a_node_in_memory_mode_is_per_process_counters() {
    let o = in_mode(LimiterMode::Memory, &[2]);
    let r = diagnose(&context_for(
        &o,
        vec![healthy(0)],
        "over_admission[127.0.0.1:8003]",
        vec![],
    ));
    assert_eq!(r.rule.as_deref(), Some("per_process_counters"));
    assert!(r.diagnosis.root_cause.starts_with("per-process counters"));
    assert!(
        r.diagnosis
            .summary
            .contains("Node n8003 decides in limiter mode memory")
    );
}
