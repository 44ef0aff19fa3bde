//! Rules about the nodes.

use serde_json::json;

use super::{actions, context_for, diagnose};
use crate::action::RateLimitAction;
use crate::checker::sample::healthy;
use crate::error::ErrorKind;
use crate::observation::{NodeView, OverAdmitted};

#[test]
fn a_killed_node_is_not_running_a_frozen_one_is_frozen_and_an_unknown_name_is_said() {
    let mut o = healthy(1000);
    o.nodes[1] = NodeView {
        url: "http://127.0.0.1:8002".into(),
        addr: "127.0.0.1:8002".into(),
        error: Some("connection refused".into()),
        error_kind: Some(ErrorKind::Refused),
        ..Default::default()
    };
    let r = diagnose(&context_for(
        &o,
        vec![healthy(0)],
        "node_down[127.0.0.1:8002]",
        vec![],
    ));
    assert_eq!(r.rule.as_deref(), Some("node_process_down"));
    assert!(r.diagnosis.root_cause.contains("is not running"));
    assert!(
        r.diagnosis
            .evidence
            .iter()
            .any(|c| c.detail.contains("last seen alive"))
    );
    assert!(r.diagnosis.actions.is_empty());
    o.nodes[1].error = Some("timed out".into());
    o.nodes[1].error_kind = Some(ErrorKind::TimedOut);
    let r = diagnose(&context_for(
        &o,
        vec![healthy(0)],
        "node_down[127.0.0.1:8002]",
        vec![],
    ));
    assert!(r.diagnosis.root_cause.contains("is frozen"));
    // Told by the kind, not the words: a name that does not resolve is not a refusal.
    o.nodes[1].error = Some("host name does not resolve".into());
    o.nodes[1].error_kind = Some(ErrorKind::Dns);
    let r = diagnose(&context_for(
        &o,
        vec![healthy(0)],
        "node_down[127.0.0.1:8002]",
        vec![],
    ));
    assert!(
        r.diagnosis.root_cause.contains("does not resolve"),
        "{}",
        r.diagnosis.root_cause
    );
}

#[test]
fn clock_skew_and_prefix_mismatch_are_told_apart() {
    let mut o = healthy(0);
    o.nodes[2].clock_skew_ms = Some(4_000);
    o.nodes[0].info.as_mut().unwrap().key_prefix = "other:".into();
    let r = diagnose(&context_for(
        &o,
        vec![],
        "counter_drift[127.0.0.1:8003]",
        vec![],
    ));
    assert_eq!(r.rule.as_deref(), Some("clock_skew"));
    assert!(r.diagnosis.summary.contains("4000 ms ahead of Redis TIME"));
    let r = diagnose(&context_for(
        &o,
        vec![],
        "counter_drift[127.0.0.1:8001]",
        vec![],
    ));
    assert_eq!(r.rule.as_deref(), Some("key_prefix_mismatch"));
}

#[test]
fn counters_over_their_limit_are_reset_by_key() {
    let mut o = healthy(500);
    o.redis.keys.as_mut().unwrap().over_admitted = vec![OverAdmitted {
        key: "hour:abuser".into(),
        policy: "hourly".into(),
        window_ms: 3_600_000,
        count: 50,
        limit: 10,
    }];
    let r = diagnose(&context_for(
        &o,
        vec![healthy(0)],
        "over_admission[policy:hourly]",
        vec![],
    ));
    assert_eq!(r.rule.as_deref(), Some("counter_over_limit"));
    assert_eq!(
        actions(&r),
        [json!({"action": "reset_counter", "args": {"key": "hour:abuser"}})]
    );
    assert!(r.diagnosis.actions[0].parse::<RateLimitAction>().is_ok());
}
