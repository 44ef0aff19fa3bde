//! Each rule on the violation the checker really reports for a hand-written fault: the offline
//! diagnosis names the right cause and recommends only what addresses it.

use chrono::Utc;
use operator_core::context::{
    ContextSection, ObservationEntry, Phase, RelatedTicket, SubjectSection,
};
use operator_core::{
    Action, Context, DiagnosisReport, InvariantChecker, OfflineDiagnoser, Ticket, TicketStatus,
    Violation,
};
use ratelimiter_schema::FailureDecisions;
use serde_json::json;

use super::rules;
use crate::action::RateLimitAction;
use crate::invariants::tests::{at, healthy, history};
use crate::invariants::*;
use crate::observation::{NodeView, Observation, OverAdmitted, RedisView, StuckKey};

fn ticket(v: &Violation, id: i64) -> Ticket {
    Ticket {
        id,
        subject: "ratelimit".into(),
        invariant: v.invariant.clone(),
        entity: v.entity.clone(),
        severity: v.severity,
        status: TicketStatus::Open,
        held: false,
        message: v.message.clone(),
        evidence: v.evidence.clone(),
        occurrences: 1,
        first_seen: Utc::now(),
        last_seen: Utc::now(),
        resolved_at: None,
        resolution: None,
    }
}

/// The context of the ticket for `key` that the checker reports on `current` after `past`, the
/// other violations being concurrent tickets.
fn context_for(
    current: &Observation,
    past: Vec<Observation>,
    key: &str,
    extra: Vec<ContextSection>,
) -> Context {
    let vs = RateLimiterChecker::default().check(current, &history(past.clone()));
    let v = vs
        .iter()
        .find(|v| v.key().to_string() == key)
        .unwrap_or_else(|| {
            panic!(
                "{key} not reported: {:?}",
                vs.iter().map(|v| v.key().to_string()).collect::<Vec<_>>()
            )
        });
    with_ticket(ticket(v, 1), current, past, &vs, extra)
}

fn with_ticket(
    ticket: Ticket,
    current: &Observation,
    past: Vec<Observation>,
    others: &[Violation],
    extra: Vec<ContextSection>,
) -> Context {
    let mut observations: Vec<ObservationEntry> = past
        .iter()
        .map(|o| ObservationEntry {
            at: o.observed_at,
            phase: Phase::Before,
            observation: serde_json::to_value(o).unwrap(),
        })
        .collect();
    observations.push(ObservationEntry {
        at: current.observed_at,
        phase: Phase::Current,
        observation: serde_json::to_value(current).unwrap(),
    });
    let concurrent = others
        .iter()
        .filter(|o| o.key() != ticket.key())
        .enumerate()
        .map(|(i, o)| RelatedTicket {
            id: 10 + i64::try_from(i).unwrap(),
            invariant: o.invariant.clone(),
            entity: o.entity.clone(),
            severity: o.severity,
            status: TicketStatus::Open,
            message: o.message.clone(),
            first_seen: Utc::now(),
            resolved_at: None,
            evidence: o.evidence.clone(),
        })
        .collect();
    Context {
        generated_at: Utc::now(),
        ticket,
        subject: SubjectSection {
            name: "ratelimit".into(),
            description: String::new(),
        },
        invariant: None,
        other_invariants: vec![],
        actions: RateLimitAction::catalog(),
        now: None,
        timeline: vec![],
        observations,
        concurrent,
        similar: vec![],
        extra,
        trimmed: vec![],
    }
}

fn diagnose(ctx: &Context) -> DiagnosisReport {
    OfflineDiagnoser::new(rules()).diagnose_now(ctx)
}

fn actions(r: &DiagnosisReport) -> Vec<serde_json::Value> {
    r.diagnosis.actions.iter().map(|a| a.wire()).collect()
}

fn redis_down(error: &str) -> Observation {
    let mut o = healthy(1000);
    o.redis = RedisView {
        url: o.redis.url.clone(),
        error: Some(error.into()),
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
    let o = redis_down("redis: Connection refused (os error 111)");
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
    let o = redis_down("redis did not answer within 300 ms");
    let r = diagnose(&context_for(&o, vec![healthy(0)], "redis_healthy", vec![]));
    assert!(r.diagnosis.root_cause.contains("does not answer in time"));
}

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
    let r = diagnose(&context_for(
        &o,
        vec![healthy(0)],
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

#[test]
fn keys_without_ttl_are_repaired() {
    let mut o = healthy(0);
    let k = o.redis.keys.as_mut().unwrap();
    k.stuck = vec![StuckKey {
        key: "ratelimit:leftover".into(),
        kind: "other".into(),
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
fn a_killed_node_is_not_running_and_a_frozen_one_is_frozen() {
    let mut o = healthy(1000);
    o.nodes[1] = NodeView {
        url: "http://127.0.0.1:8002".into(),
        addr: "127.0.0.1:8002".into(),
        error: Some("connection refused".into()),
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
    let r = diagnose(&context_for(
        &o,
        vec![healthy(0)],
        "node_down[127.0.0.1:8002]",
        vec![],
    ));
    assert!(r.diagnosis.root_cause.contains("is frozen"));
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

#[test]
fn every_rule_is_documented_and_names_known_invariants() {
    let all = rules();
    assert!(all.len() >= 15);
    for r in &all {
        assert!(!r.cause.is_empty() && !r.signature.is_empty(), "{}", r.name);
        for inv in &r.invariants {
            assert!(
                RateLimiterChecker::default()
                    .invariants()
                    .iter()
                    .any(|s| &s.name == inv),
                "{}: unknown invariant {inv}",
                r.name
            );
        }
    }
}
