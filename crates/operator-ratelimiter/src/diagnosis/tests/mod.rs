//! Each rule on the violation the checker really reports for a hand-written fault: the offline
//! diagnosis names the right cause and recommends only what addresses it. One module per
//! concern, as the rules are.

mod abuse;
mod cluster;
mod modes;
mod nodes;
mod policies;
mod redis;

use chrono::Utc;
use operator_core::context::{
    ContextSection, ObservationEntry, Phase, RelatedTicket, SubjectSection,
};
use operator_core::{
    Action, Context, DiagnosisReport, InvariantChecker, OfflineDiagnoser, Ticket, TicketStatus,
    Violation,
};

use super::rules;
use crate::action::RateLimitAction;
use crate::checker::RateLimiterChecker;
use crate::checker::sample::history;
use crate::observation::Observation;

pub(super) fn ticket(v: &Violation, id: i64) -> Ticket {
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
pub(super) fn context_for(
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

pub(super) fn with_ticket(
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

pub(super) fn diagnose(ctx: &Context) -> DiagnosisReport {
    OfflineDiagnoser::new(rules()).diagnose_now(ctx)
}

pub(super) fn actions(r: &DiagnosisReport) -> Vec<serde_json::Value> {
    r.diagnosis.actions.iter().map(|a| a.wire()).collect()
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
