//! `node_down`, `high_latency` and `over_admission`.

use operator_core::{InvariantChecker, Severity, Unknown};
use ratelimiter_schema::{FailureDecisions, LimiterMode, NodeEntry, NodeState};

use super::{check, info_mut, names};
use crate::checker::sample::{at, healthy, history};
use crate::checker::*;
use crate::error::ErrorKind;
use crate::histogram::Histogram;
use crate::observation::{NodeView, Observation, OverAdmitted};

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
        v[0].message
            .contains("user:1 (admitted 130 of limit 100 (+30 %) per 1000 ms)"),
        "{}",
        v[0].message
    );
    // Failure decisions counted before the last observation are not new.
    let mut later = o.clone();
    later.observed_at = at(1000);
    later.redis.keys.as_mut().unwrap().over_admitted.clear();
    assert!(check(&later, vec![o]).is_empty());
}

/// Node 2 answering "not ready" for a reason of its own (the node's readiness probe of Redis).
fn not_ready(t: i64) -> Observation {
    let mut o = healthy(t);
    o.nodes[1].ready = Some(false);
    o.nodes[1].ready_reason =
        Some("503 Service Unavailable: redis did not answer within 50 ms".into());
    o
}

/// Node 2 refusing connections.
fn unreachable(t: i64) -> Observation {
    let mut o = healthy(t);
    o.nodes[1] = NodeView {
        url: "http://127.0.0.1:8002".into(),
        addr: "127.0.0.1:8002".into(),
        error: Some("/readyz: connection refused".into()),
        ..Default::default()
    };
    o
}

#[test]
fn a_single_not_ready_answer_is_unknown_and_a_second_one_is_node_down() {
    let checker = RateLimiterChecker::default();
    let node2 = Unknown::entity(NODE_DOWN, "127.0.0.1:8002");
    // Ready before, not ready now: not down yet, not clear either.
    let past = vec![healthy(0)];
    assert!(check(&not_ready(500), past.clone()).is_empty());
    assert!(
        checker
            .unknown(&not_ready(500), &history(past))
            .contains(&node2)
    );
    // Not ready twice in a row: down, with the node's reason.
    let past = vec![healthy(0), not_ready(500)];
    let v = check(&not_ready(1000), past.clone());
    assert_eq!(names(&v), ["node_down[127.0.0.1:8002]"]);
    assert_eq!(v[0].severity, Severity::Critical);
    assert!(v[0].message.contains("within 50 ms"), "{}", v[0].message);
    assert!(
        !checker
            .unknown(&not_ready(1000), &history(past))
            .contains(&node2)
    );
    // Only the previous observation counts: not ready, ready, not ready is not confirmed.
    let past = vec![not_ready(0), healthy(500)];
    assert!(check(&not_ready(1000), past).is_empty());
}

#[test]
fn an_unreachable_node_is_node_down_at_once_and_not_ready_after_it_still_is() {
    let v = check(&unreachable(500), vec![healthy(0)]);
    assert_eq!(names(&v), ["node_down[127.0.0.1:8002]"]);
    assert!(
        v[0].message.contains("connection refused"),
        "{}",
        v[0].message
    );
    // Back but not ready yet (starting): still down, no gap in the alert.
    let v = check(&not_ready(1000), vec![healthy(0), unreachable(500)]);
    assert_eq!(names(&v), ["node_down[127.0.0.1:8002]"]);
    // A timeout on the node itself is unreachable too.
    let mut frozen = unreachable(500);
    frozen.nodes[1].error = Some("/readyz: timed out".into());
    frozen.nodes[1].error_kind = Some(ErrorKind::TimedOut);
    assert_eq!(
        names(&check(&frozen, vec![healthy(0)])),
        ["node_down[127.0.0.1:8002]"]
    );
}

#[test]
fn not_ready_while_redis_was_down_is_not_a_first_sample_of_the_node_being_down() {
    // Redis down for the monitor: the nodes' "not ready: redis" belonged to redis_healthy.
    let mut redis_down = not_ready(0);
    redis_down.redis.error = Some("connection refused".into());
    redis_down.redis.reachable = false;
    redis_down.nodes[1].ready_reason = Some("503: redis unreachable".into());
    // Redis is back for the monitor, the node is not ready yet: one sample of its own.
    let now = not_ready(500);
    assert!(check(&now, vec![redis_down.clone()]).is_empty());
    let unknown = RateLimiterChecker::default().unknown(&now, &history(vec![redis_down]));
    assert!(unknown.contains(&Unknown::entity(NODE_DOWN, "127.0.0.1:8002")));
}

/// The monitor's alert states over a sequence of observations, as its loop evaluates them (the
/// checker's violations, its unknowns left as they are, the invariants' timing).
fn alert_changes(seq: &[Observation]) -> Vec<Vec<String>> {
    use operator_core::alert::{Alerts, Timing};
    let checker = RateLimiterChecker::default();
    let specs = checker.invariants();
    let mut alerts = Alerts::new();
    let start = tokio::time::Instant::now();
    let mut past = Vec::new();
    let mut out = Vec::new();
    for (i, o) in seq.iter().enumerate() {
        let h = history(past.clone());
        let unknown = checker.unknown(o, &h);
        let now = start + std::time::Duration::from_millis(500 * i as u64);
        let updates = alerts.evaluate(
            now,
            o.observed_at,
            checker.check(o, &h),
            |k| !unknown.iter().any(|u| u.covers(k)),
            |inv| {
                let s = specs.iter().find(|s| s.name == inv).unwrap();
                Timing {
                    pending: s.pending,
                    keep_firing: s.keep_firing,
                }
            },
        );
        out.push(
            updates
                .iter()
                .map(|u| format!("{:?} {}", u.change, u.violation.key()))
                .collect(),
        );
        past.push(o.clone());
    }
    out
}

#[test]
fn the_monitor_opens_no_ticket_for_one_not_ready_blip_and_one_for_two() {
    let blip = alert_changes(&[healthy(0), not_ready(500), healthy(1000), healthy(1500)]);
    assert!(blip.iter().all(Vec::is_empty), "{blip:?}");
    let stays = alert_changes(&[healthy(0), not_ready(500), not_ready(1000)]);
    assert_eq!(stays[2], ["Fired node_down[127.0.0.1:8002]"], "{stays:?}");
    let killed = alert_changes(&[healthy(0), unreachable(500)]);
    assert_eq!(killed[1], ["Fired node_down[127.0.0.1:8002]"], "{killed:?}");
}

#[test]
fn nodes_in_a_teaching_limiter_mode_are_named_with_how_far_over() {
    let mut o = healthy(500);
    // Quiet load, but not exact: each node in a teaching mode warns on its own.
    info_mut(&mut o, 0).limiter_mode = LimiterMode::Naive;
    info_mut(&mut o, 1).limiter_mode = LimiterMode::Naive;
    let v = check(&o, vec![healthy(0)]);
    assert_eq!(
        names(&v),
        [
            "over_admission[127.0.0.1:8001]",
            "over_admission[127.0.0.1:8002]"
        ]
    );
    assert!(v.iter().all(|v| v.severity == Severity::Warning));
    assert!(
        v[0].message
            .contains("limiter mode naive (non-atomic check-and-increment)"),
        "{}",
        v[0].message
    );
    assert_eq!(v[0].evidence["limiter_mode"], "naive");
    // A counter over its limit says how much over, and names the nodes that caused it.
    o.redis.keys.as_mut().unwrap().over_admitted = vec![OverAdmitted {
        key: "hot:1".into(),
        policy: "default".into(),
        window_ms: 60_000,
        count: 187,
        limit: 100,
    }];
    info_mut(&mut o, 2).limiter_mode = LimiterMode::Memory;
    let v = check(&o, vec![healthy(0)]);
    assert_eq!(v[0].key().to_string(), "over_admission[policy:default]");
    let m = &v[0].message;
    assert!(m.contains("admitted 187 of limit 100 (+87 %)"), "{m}");
    assert!(
        m.contains("nodes n8001 (127.0.0.1:8001), n8002 (127.0.0.1:8002) decide in limiter mode naive (non-atomic check-and-increment)"),
        "{m}"
    );
    assert!(
        m.contains(
            "node n8003 (127.0.0.1:8003) decides in limiter mode memory (per-process counters)"
        ),
        "{m}"
    );
    assert_eq!(v[0].evidence["limiter_modes"]["n8003"], "memory");
    assert!(
        v[3].message
            .contains("on top of what the other nodes admit"),
        "{}",
        v[3].message
    );
    // Atomic everywhere: nothing but the counter.
    let mut exact = o.clone();
    for i in 0..3 {
        info_mut(&mut exact, i).limiter_mode = LimiterMode::Atomic;
    }
    let v = check(&exact, vec![healthy(0)]);
    assert_eq!(names(&v), ["over_admission[policy:default]"]);
    assert!(
        !v[0]
            .evidence
            .as_object()
            .unwrap()
            .contains_key("limiter_modes")
    );
}
