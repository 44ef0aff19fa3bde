//! `node_down`, `high_latency` and `over_admission`.

use operator_core::{InvariantChecker, Severity, Unknown};
use ratelimiter_schema::{FailureDecisions, NodeEntry, NodeState};

use super::{check, info_mut, names};
use crate::checker::sample::{at, healthy, history};
use crate::checker::*;
use crate::histogram::Histogram;
use crate::observation::{NodeView, OverAdmitted};

#[test]
fn a_stray_failure_mode_decision_among_many_is_not_lost_limiting() {
    let before = healthy(0);
    let mut o = healthy(500);
    info_mut(&mut o, 0).decisions = 100 + 400;
    info_mut(&mut o, 0).failure_decisions = FailureDecisions {
        open: 0,
        local: 1,
        closed: 0,
    };
    assert!(
        check(&o, vec![before.clone()]).is_empty(),
        "1 of 400 decisions: a blip"
    );
    info_mut(&mut o, 0).failure_decisions = FailureDecisions {
        open: 0,
        local: 40,
        closed: 0,
    };
    assert_eq!(
        names(&check(&o, vec![before])),
        ["over_admission[127.0.0.1:8001]"],
        "10 %: lost"
    );
}

#[test]
fn node_unreachable_or_not_ready_is_one_ticket_per_node() {
    let mut o = healthy(0);
    o.nodes[1] = NodeView {
        url: "http://127.0.0.1:8002".into(),
        addr: "127.0.0.1:8002".into(),
        error: Some("/readyz: connection refused".into()),
        ..Default::default()
    };
    o.nodes[2].ready = Some(false);
    o.nodes[2].ready_reason = Some("503: policies not loaded".into());
    let v = check(&o, vec![]);
    assert_eq!(
        names(&v),
        ["node_down[127.0.0.1:8002]", "node_down[127.0.0.1:8003]"]
    );
    let unknown = RateLimiterChecker::default().unknown(&o, &history(vec![]));
    assert!(unknown.contains(&Unknown::entity(HIGH_LATENCY, "127.0.0.1:8002")));
    assert!(!unknown.iter().any(|u| u.invariant == NODE_DOWN));
}

#[test]
fn registered_nodes_that_stopped_heartbeating_are_reported_unless_configured() {
    let mut o = healthy(0);
    let entry = |id: &str, addr: &str| NodeEntry {
        id: id.into(),
        addr: addr.into(),
        state: NodeState::Down,
        last_heartbeat_age_ms: 9_000,
        started_ms: 0,
        version: "0.1.0".into(),
    };
    o.redis.registry = Some(vec![
        entry("n8001", "127.0.0.1:8001"),
        entry("stray", "10.0.0.9:8080"),
    ]);
    let v = check(&o, vec![]);
    assert_eq!(names(&v), ["node_down[stray]"]);
    assert_eq!(v[0].severity, Severity::Warning);
}

#[test]
fn high_latency_uses_the_decisions_since_the_last_observation() {
    let before = healthy(0);
    let mut o = healthy(500);
    // 100 fast decisions before; 50 slow ones since.
    o.nodes[0].latency = Some(Histogram {
        bounds: vec![0.001, 0.01, 0.1],
        counts: vec![100, 100, 150, 150],
    });
    let v = check(&o, vec![before.clone()]);
    assert_eq!(names(&v), ["high_latency[127.0.0.1:8001]"]);
    assert!(
        v[0].message.contains("over 50 decisions"),
        "{}",
        v[0].message
    );
    // No decisions since: nothing to say, and not unknown.
    assert!(check(&healthy(500), vec![before.clone()]).is_empty());
    // A node that restarted (counts went down) cannot be compared: unknown.
    let mut restarted = healthy(500);
    restarted.nodes[0].latency = Some(Histogram {
        bounds: vec![0.001, 0.01, 0.1],
        counts: vec![1, 1, 1, 1],
    });
    let unknown = RateLimiterChecker::default().unknown(&restarted, &history(vec![before]));
    assert!(unknown.contains(&Unknown::entity(HIGH_LATENCY, "127.0.0.1:8001")));
}

#[test]
fn over_limit_counters_and_failure_mode_decisions_are_over_admission() {
    let before = healthy(0);
    let mut o = healthy(500);
    o.redis.keys.as_mut().unwrap().over_admitted = vec![OverAdmitted {
        key: "user:1".into(),
        policy: "default".into(),
        window_ms: 1000,
        count: 130,
        limit: 100,
    }];
    info_mut(&mut o, 0).failure_decisions = FailureDecisions {
        open: 40,
        local: 0,
        closed: 0,
    };
    info_mut(&mut o, 1).failure_decisions = FailureDecisions {
        open: 0,
        local: 12,
        closed: 0,
    };
    let v = check(&o, vec![before]);
    assert_eq!(
        names(&v),
        [
            "over_admission[policy:default]",
            "over_admission[127.0.0.1:8001]",
            "over_admission[127.0.0.1:8002]"
        ]
    );
    assert_eq!(
        v.iter().map(|v| v.severity).collect::<Vec<_>>(),
        [Severity::Critical, Severity::Critical, Severity::Warning]
    );
    assert!(
        v[0].message.contains("user:1 (130 > 100 per 1000 ms)"),
        "{}",
        v[0].message
    );
    // Failure decisions counted before the last observation are not new.
    let mut later = o.clone();
    later.observed_at = at(1000);
    later.redis.keys.as_mut().unwrap().over_admitted.clear();
    assert!(check(&later, vec![o]).is_empty());
}
