//! The book over hand-written tick reports and sessions.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use operator_core::agent::{Outcome, SessionReport};
use operator_core::invariant::ViolationKey;
use operator_core::monitor::Active;
use operator_core::ticket::Mode;
use operator_core::{Event, Severity, TickReport, Violation};

use super::{Book, NoticeKind};
use crate::alertmanager::alerts_of;
use crate::webhook::body_of;

fn t(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
}

fn violation(severity: Severity) -> Violation {
    let mut v = Violation::new("node_down", severity, "node 2 is unreachable");
    v.entity = Some("n2".into());
    v
}

fn report(at: i64, firing: &[(i64, Severity)], events: Vec<Event>) -> TickReport {
    TickReport {
        subject: "demo".into(),
        observed_at: t(at),
        observation_error: None,
        observation_duration: Duration::from_millis(3),
        firing: firing
            .iter()
            .map(|&(ticket, sev)| Active {
                violation: violation(sev),
                since: t(0),
                ticket: Some(ticket),
                observed: true,
            })
            .collect(),
        pending: Vec::new(),
        events,
        pruned: None,
    }
}

fn opened(ticket: i64) -> Event {
    Event::Opened {
        ticket,
        violation: violation(Severity::Warning),
        since: t(0),
    }
}

fn kinds(notices: &[super::Notice]) -> Vec<(i64, NoticeKind)> {
    notices
        .iter()
        .map(|n| (n.alert.ticket, n.kind.clone()))
        .collect()
}

#[test]
fn opened_is_notified_then_resent_only_each_interval_then_resolved() {
    let mut book = Book::new(Duration::from_secs(60));
    let n = book.on_tick(&report(1, &[(7, Severity::Warning)], vec![opened(7)]));
    assert_eq!(kinds(&n), [(7, NoticeKind::Opened)]);
    assert!(
        book.on_tick(&report(2, &[(7, Severity::Warning)], vec![]))
            .is_empty()
    );
    let n = book.on_tick(&report(61, &[(7, Severity::Warning)], vec![]));
    assert_eq!(kinds(&n), [(7, NoticeKind::Firing)]);
    let key = ViolationKey {
        invariant: "node_down".into(),
        entity: Some("n2".into()),
    };
    let n = book.on_tick(&report(70, &[], vec![Event::Resolved { ticket: 7, key }]));
    assert_eq!(kinds(&n), [(7, NoticeKind::Resolved { by_agent: false })]);
    assert_eq!(book.alerts().count(), 0);
    // Resolved means ended for Alertmanager: endsAt is the time it resolved.
    let am = alerts_of(&n[0], Duration::from_secs(60));
    assert_eq!((am.len(), am[0].ends_at), (1, t(70)));
}

#[test]
fn a_ticket_left_open_by_an_earlier_run_is_picked_up_and_one_gone_silently_ends() {
    let mut book = Book::new(Duration::from_secs(60));
    let n = book.on_tick(&report(1, &[(3, Severity::Critical)], vec![]));
    assert_eq!(kinds(&n), [(3, NoticeKind::Firing)]);
    // Resolved by the agent in another process, or by hand: no event, just no longer firing.
    let n = book.on_tick(&report(2, &[], vec![]));
    assert_eq!(kinds(&n), [(3, NoticeKind::Resolved { by_agent: false })]);
}

#[test]
fn an_escalation_ends_the_old_alert_and_starts_a_new_one() {
    let mut book = Book::new(Duration::from_secs(60));
    book.on_tick(&report(1, &[(7, Severity::Warning)], vec![opened(7)]));
    let esc = Event::Escalated {
        ticket: 7,
        from: Severity::Warning,
        violation: violation(Severity::Critical),
    };
    let n = book.on_tick(&report(5, &[(7, Severity::Critical)], vec![esc]));
    assert_eq!(
        kinds(&n),
        [(
            7,
            NoticeKind::Escalated {
                from: Severity::Warning,
                from_since: t(0)
            }
        )]
    );
    let am = alerts_of(&n[0], Duration::from_secs(60));
    assert_eq!(am.len(), 2);
    assert_eq!(
        (am[0].labels["severity"].as_str(), am[0].ends_at),
        ("warning", t(5))
    );
    assert_eq!(am[1].labels["severity"], "critical");
    assert_eq!(
        (am[1].starts_at, am[1].ends_at),
        (t(5), t(5) + TimeDelta::seconds(240))
    );
    assert_eq!(am[1].labels["alertname"], "node_down");
    assert_eq!(am[1].labels["entity"], "n2");
    assert_eq!(am[1].labels["subject"], "demo");
    assert_eq!(am[1].annotations["ticket"], "7");
    assert_eq!(am[1].annotations["summary"], "node 2 is unreachable");
    let hook = body_of(&n[0]).unwrap();
    assert_eq!(
        (hook.event.as_str(), hook.previous_severity),
        ("escalated", Some(Severity::Warning))
    );
    assert!(
        hook.text
            .starts_with("[CRITICAL] demo node_down[n2] ESCALATED from warning (ticket #7)"),
        "{}",
        hook.text
    );
}

fn session(ticket: i64, outcome: Outcome) -> SessionReport {
    SessionReport {
        session: 1,
        ticket,
        key: ViolationKey {
            invariant: "node_down".into(),
            entity: Some("n2".into()),
        },
        mode: Mode::Execute,
        outcome,
        detail: "nothing allowed fixes it".into(),
        diagnosis: None,
        plan: Vec::new(),
        executed: Vec::new(),
        verification: None,
        steps: 0,
        tokens: 0,
        elapsed_ms: 5,
    }
}

#[test]
fn the_agent_resolves_or_hands_over_an_alert() {
    let mut book = Book::new(Duration::from_secs(60));
    book.on_tick(&report(
        1,
        &[(7, Severity::Warning), (8, Severity::Warning)],
        vec![opened(7), opened(8)],
    ));
    assert!(
        book.on_session(&session(99, Outcome::Resolved), t(2))
            .is_empty()
    );
    assert!(
        book.on_session(&session(7, Outcome::Observed), t(2))
            .is_empty()
    );
    let n = book.on_session(&session(7, Outcome::Escalated), t(3));
    assert_eq!(kinds(&n), [(7, NoticeKind::AgentEscalated)]);
    let am = alerts_of(&n[0], Duration::from_secs(60));
    assert!(am[0].annotations["agent"].contains("nothing allowed fixes it"));
    let n = book.on_session(&session(8, Outcome::Resolved), t(4));
    assert_eq!(kinds(&n), [(8, NoticeKind::Resolved { by_agent: true })]);
    assert_eq!(body_of(&n[0]).unwrap().resolved_by_agent, Some(true));
    // The monitor lists it as firing until it sees it clear: it is not picked up again.
    let both = [(7, Severity::Warning), (8, Severity::Warning)];
    assert!(book.on_tick(&report(5, &both, vec![])).is_empty());
    assert!(
        book.on_tick(&report(6, &[(7, Severity::Warning)], vec![]))
            .is_empty()
    );
    // Re-sends are not changes: a webhook is not told.
    let n = book.on_tick(&report(100, &[(7, Severity::Warning)], vec![]));
    assert_eq!(kinds(&n), [(7, NoticeKind::Firing)]);
    assert!(body_of(&n[0]).is_none());
}
