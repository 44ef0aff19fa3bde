//! Each invariant over hand-written observations: what fires, what stays quiet, and what is left
//! unknown. The fixtures (`healthy`, `node`) are shared with the diagnosis rules' tests.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use operator_core::{History, InvariantChecker, Severity, Unknown, Violation};
use ratelimiter_schema::{
    FailureDecisions, FailureMode, NodeEntry, NodeInfo, NodeState, Policy, PolicySpec, Window,
};

use super::*;
use crate::histogram::Histogram;
use crate::info::RedisInfo;
use crate::observation::{KeyScan, NodeView, OverAdmitted, PolicyView, RedisView, StuckKey};

pub(crate) fn at(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_800_000_000_000 + ms).unwrap()
}

pub(crate) fn node(port: u16) -> NodeView {
    let addr = format!("127.0.0.1:{port}");
    NodeView {
        url: format!("http://{addr}"),
        addr,
        reachable: true,
        ready: Some(true),
        info: Some(NodeInfo {
            node_id: format!("n{port}"),
            version: "0.1.0".into(),
            uptime_ms: 10_000,
            decisions: 100,
            allowed: 90,
            denied: 10,
            near_limit: 0,
            failure_decisions: FailureDecisions::default(),
            policy_version: 3,
            policy_digest: "d3".into(),
            policies_loaded: 1,
            policies_from_redis: true,
            redis_rtt_us: Some(200),
            redis_ok: true,
            redis_errors: 0,
            redis_timeouts: 0,
            redis_skipped: 0,
            policy_reloads: 1,
            up_nodes: 3,
            now_ms: 1_800_000_000_000,
            key_prefix: "ratelimit:".into(),
            failure_mode: FailureMode::Local,
        }),
        latency: Some(Histogram {
            bounds: vec![0.001, 0.01, 0.1],
            counts: vec![100, 100, 100, 100],
        }),
        clock_skew_ms: Some(3),
        ..Default::default()
    }
}

pub(crate) fn healthy(t: i64) -> Observation {
    Observation {
        observed_at: at(t),
        key_prefix: "ratelimit:".into(),
        redis: RedisView {
            url: "redis://127.0.0.1:6379".into(),
            reachable: true,
            ping_us: Some(300),
            info: Some(RedisInfo {
                run_id: "r1".into(),
                role: "master".into(),
                rdb_last_save_ok: true,
                ..Default::default()
            }),
            time_ms: Some(1_800_000_000_000),
            policies: Some(PolicyView {
                present: true,
                version: Some(3),
                digest: Some("d3".into()),
                policies: vec![
                    Policy::new(
                        "default",
                        PolicySpec {
                            pattern: None,
                            windows: vec![Window {
                                limit: 100,
                                window_ms: 1000,
                            }],
                        },
                    )
                    .unwrap(),
                ],
                invalid: vec![],
            }),
            registry: Some(vec![]),
            keys: Some(KeyScan {
                scanned: 10,
                ..Default::default()
            }),
            error: None,
        },
        nodes: vec![node(8001), node(8002), node(8003)],
    }
}

pub(crate) fn history(obs: Vec<Observation>) -> History<Observation> {
    let mut h = History::new(100);
    for o in obs {
        h.push(o.observed_at, tokio::time::Instant::now(), Arc::new(o));
    }
    h
}

fn check(current: &Observation, past: Vec<Observation>) -> Vec<Violation> {
    RateLimiterChecker::default().check(current, &history(past))
}

fn names(vs: &[Violation]) -> Vec<String> {
    vs.iter().map(|v| v.key().to_string()).collect()
}

fn info_mut(o: &mut Observation, i: usize) -> &mut NodeInfo {
    o.nodes[i].info.as_mut().unwrap()
}

#[test]
fn a_healthy_stack_has_no_violation() {
    assert!(check(&healthy(1000), vec![healthy(0), healthy(500)]).is_empty());
}

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
            kind: "other".into(),
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

#[test]
fn missing_or_invalid_policies_are_critical() {
    let mut o = healthy(0);
    o.redis.policies = Some(PolicyView::default());
    let v = check(&o, vec![]);
    assert_eq!(names(&v), ["config_loaded"]);
    assert!(v[0].message.contains("no policies in Redis"));

    let mut o = healthy(0);
    let p = o.redis.policies.as_mut().unwrap();
    p.invalid.push(crate::observation::InvalidField {
        field: "policy:x".into(),
        error: "bad json".into(),
    });
    let v = check(&o, vec![]);
    assert!(
        v[0].message.contains("policy:x: bad json"),
        "{}",
        v[0].message
    );
}

#[test]
fn a_node_serving_other_policies_is_stale_only_after_the_propagation_time() {
    let stale = |t| {
        let mut o = healthy(t);
        let p = o.redis.policies.as_mut().unwrap();
        p.version = Some(4);
        p.digest = Some("d4".into());
        for i in 0..2 {
            info_mut(&mut o, i).policy_version = 4;
            info_mut(&mut o, i).policy_digest = "d4".into();
        }
        o
    };
    // Changed 1 s ago: still propagating.
    assert!(check(&stale(1000), vec![healthy(-500), stale(0), stale(500)]).is_empty());
    // 2.5 s later, node 3 still serves version 3.
    let v = check(&stale(2500), vec![stale(0), stale(1000), stale(2000)]);
    assert_eq!(
        names(&v),
        ["config_loaded[127.0.0.1:8003]", "counter_drift"]
    );
    assert!(
        v[0].message.contains("serves policy version 3"),
        "{}",
        v[0].message
    );
    assert!(v[1].message.contains("nodes disagree"), "{}", v[1].message);
}

fn lost(v: &[Violation]) -> Vec<&Violation> {
    v.iter()
        .filter(|v| v.invariant == CONFIG_LOADED && v.entity.is_none())
        .collect()
}

#[test]
fn redis_restarted_empty_is_reported_even_when_the_nodes_restored_the_policies() {
    let mut o = healthy(5000);
    o.redis.info.as_mut().unwrap().run_id = "r2".into();
    o.redis.policies.as_mut().unwrap().version = Some(1_800_000_004_000);
    let mut down = healthy(4000);
    down.redis = RedisView {
        reachable: false,
        ..Default::default()
    };
    let v = check(&o, vec![healthy(0), down]);
    let lost = lost(&v);
    assert_eq!(lost.len(), 1, "{v:?}");
    assert!(
        lost[0].message.contains("restarted empty"),
        "{}",
        lost[0].message
    );
    assert!(
        lost[0]
            .message
            .contains("re-seeded the same policies from memory"),
        "{}",
        lost[0].message
    );
    // The next observation compares with a server of the same run: nothing to report.
    assert!(self::lost(&check(&healthy_on("r2", 5500), vec![o])).is_empty());
    // A restart that loaded its data (persistence) is not a loss.
    let mut kept = healthy_on("r3", 6000);
    kept.redis.info.as_mut().unwrap().keys_loaded_at_start = 5_000;
    assert!(self::lost(&check(&kept, vec![healthy(0)])).is_empty());
}

#[test]
fn a_redis_with_an_append_only_file_that_came_back_empty_is_reported() {
    // INFO says nothing of keys loaded from an AOF: only the re-seeded version tells the loss.
    let mut o = healthy_on("r2", 5000);
    o.redis.info.as_mut().unwrap().aof_enabled = true;
    o.redis.policies.as_mut().unwrap().version = Some(1_800_000_004_000);
    let v = check(&o, vec![healthy(0)]);
    let lost = lost(&v);
    assert_eq!(lost.len(), 1, "{v:?}");
    assert!(
        lost[0].message.contains("restarted empty") && lost[0].message.contains("append-only file"),
        "{}",
        lost[0].message
    );
    // Back with its data (the same version): not a loss.
    let mut kept = healthy_on("r3", 6000);
    kept.redis.info.as_mut().unwrap().aof_enabled = true;
    assert!(self::lost(&check(&kept, vec![healthy(0)])).is_empty());
}

fn healthy_on(run_id: &str, t: i64) -> Observation {
    let mut o = healthy(t);
    o.redis.info.as_mut().unwrap().run_id = run_id.into();
    o
}

#[test]
fn policies_seeded_from_a_file_after_a_restart_say_api_changes_are_lost() {
    let mut o = healthy_on("r2", 5000);
    o.redis.info.as_mut().unwrap().keys_loaded_at_start = 1; // not empty: only the digest tells
    let p = o.redis.policies.as_mut().unwrap();
    p.digest = Some("seedfile".into());
    let v = check(&o, vec![healthy(0)]);
    assert!(
        lost(&v)[0]
            .message
            .contains("changes made through the API are lost"),
        "{v:?}"
    );
}

#[test]
fn policies_vanishing_while_redis_runs_show_as_a_version_jump() {
    let mut o = healthy(1000);
    o.redis.policies.as_mut().unwrap().version = Some(1_800_000_001_000);
    let v = check(&o, vec![healthy(0)]);
    assert!(
        lost(&v)[0]
            .message
            .contains("vanished from Redis while it kept running"),
        "{v:?}"
    );
    let mut small = healthy(1000);
    small.redis.policies.as_mut().unwrap().version = Some(4);
    assert!(
        lost(&check(&small, vec![healthy(0)])).is_empty(),
        "a change through the API adds one"
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
fn prefix_mismatch_and_clock_skew_are_drift() {
    let mut o = healthy(0);
    info_mut(&mut o, 0).key_prefix = "other:".into();
    o.nodes[1].clock_skew_ms = Some(-1_500);
    let v = check(&o, vec![]);
    assert_eq!(
        names(&v),
        [
            "counter_drift[127.0.0.1:8001]",
            "counter_drift[127.0.0.1:8002]"
        ]
    );
    assert_eq!(v[0].severity, Severity::Critical);
    assert!(
        v[1].message.contains("1500 ms behind Redis TIME"),
        "{}",
        v[1].message
    );
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

#[test]
fn specs_cover_every_invariant_with_documented_timing() {
    let specs = RateLimiterChecker::default().invariants();
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            REDIS_HEALTHY,
            NO_STUCK_KEYS,
            CONFIG_LOADED,
            NODE_DOWN,
            HIGH_LATENCY,
            COUNTER_DRIFT,
            OVER_ADMISSION
        ]
    );
    let redis = &specs[0];
    assert_eq!(
        redis.pending,
        Duration::ZERO,
        "a dead Redis is reported on the first observation"
    );
}
