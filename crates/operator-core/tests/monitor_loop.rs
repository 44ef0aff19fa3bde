//! The monitor loop's alerting behaviour, driven by a scripted subject under paused tokio time.

mod support;

use chrono::SubsecRound;
use operator_core::monitor::SUBJECT_UNREACHABLE;
use operator_core::ticket::{EventKind, TicketStatus};
use operator_core::{Event, InvariantSpec, Severity, Violation};
use support::{Harness, Step, config, secs, warn};
use tokio::time::Instant;

fn spec(pending: u64, keep: u64) -> Vec<InvariantSpec> {
    vec![
        InvariantSpec::new("x", "x holds")
            .pending(secs(pending))
            .keep_firing(secs(keep)),
    ]
}

fn opened(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, Event::Opened { .. }))
        .count()
}

fn resolved(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, Event::Resolved { .. }))
        .count()
}

#[tokio::test(start_paused = true)]
async fn pending_period_delays_the_ticket() {
    let mut h = Harness::new(spec(3, 0), config());
    h.script.show(vec![warn("x")]);
    for t in 0..3 {
        let r = h.step().await;
        assert!(r.events.is_empty(), "no ticket at t={t}s, still pending");
        assert_eq!(r.pending.len(), 1);
        assert!(r.healthy(), "pending violations are not firing");
    }
    let r = h.step().await;
    assert_eq!(
        opened(&r.events),
        1,
        "fires once seen for the pending period"
    );
    assert!(!r.healthy());
    assert_eq!(h.all_tickets().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn keep_firing_period_delays_resolution() {
    let mut h = Harness::new(spec(0, 3), config());
    h.script.show(vec![warn("x")]);
    assert_eq!(opened(&h.step().await.events), 1);
    h.script.clear();
    for t in 1..4 {
        let r = h.step().await;
        assert!(r.events.is_empty(), "still firing at t={t}s");
        assert_eq!(r.firing.len(), 1);
        assert!(!r.firing[0].observed);
    }
    let r = h.step().await;
    assert_eq!(
        resolved(&r.events),
        1,
        "resolves once clear for the keep-firing period"
    );
    assert_eq!(h.all_tickets()[0].status, TicketStatus::Resolved);
    assert_eq!(h.all_tickets()[0].resolution.as_deref(), Some("auto"));
}

#[tokio::test(start_paused = true)]
async fn flapping_signal_opens_one_ticket_and_keeps_it() {
    let mut h = Harness::new(spec(0, 3), config());
    for i in 0..20 {
        if i % 2 == 0 {
            h.script.show(vec![warn("x")])
        } else {
            h.script.clear()
        }
        let r = h.step().await;
        assert_eq!(
            resolved(&r.events),
            0,
            "no resolution while flapping (tick {i})"
        );
    }
    let tickets = h.all_tickets();
    assert_eq!(
        tickets.len(),
        1,
        "one ticket for the whole flapping episode"
    );
    assert_eq!(tickets[0].status, TicketStatus::Open);
    assert_eq!(tickets[0].occurrences, 10);
}

#[tokio::test(start_paused = true)]
async fn flapping_signal_shorter_than_pending_never_opens() {
    let mut h = Harness::new(spec(2, 0), config());
    for i in 0..20 {
        if i % 2 == 0 {
            h.script.show(vec![warn("x")])
        } else {
            h.script.clear()
        }
        h.step().await;
    }
    assert!(h.all_tickets().is_empty());
}

#[tokio::test(start_paused = true)]
async fn failed_observation_is_critical_and_resolves_nothing_else() {
    let mut h = Harness::new(spec(0, 0), config());
    h.script.show(vec![warn("x")]);
    h.step().await;
    h.script.set(Step::Fail("connection refused".into()));
    for _ in 0..10 {
        let r = h.step().await;
        assert_eq!(r.observation_error.as_deref(), Some("connection refused"));
        assert!(
            r.events
                .iter()
                .all(|e| !matches!(e, Event::Resolved { .. })),
            "nothing resolves blind"
        );
        assert!(
            r.firing.iter().any(|a| a.violation.invariant == "x"),
            "x is still reported firing"
        );
    }
    let open = h.store.open_tickets("scripted").unwrap();
    let names: Vec<&str> = open.iter().map(|t| t.invariant.as_str()).collect();
    assert_eq!(names, ["x", SUBJECT_UNREACHABLE]);
    let unreachable = &open[1];
    assert_eq!(unreachable.severity, Severity::Critical);
    assert!(
        unreachable.message.contains("connection refused"),
        "{}",
        unreachable.message
    );
    assert_eq!(unreachable.occurrences, 10);

    // Seen again, and clear: both resolve.
    h.script.clear();
    let r = h.step().await;
    assert_eq!(resolved(&r.events), 2);
    assert!(h.store.open_tickets("scripted").unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn what_the_checker_could_not_evaluate_is_frozen_not_resolved() {
    let mut h = Harness::new(
        vec![InvariantSpec::new("x", "x"), InvariantSpec::new("y", "y")],
        config(),
    );
    h.script.show(vec![
        warn("x").entity("a"),
        warn("x").entity("b"),
        warn("y"),
    ]);
    h.step().await;
    // x could not be evaluated (say, its source timed out), y cleared.
    h.script.show(vec![support::unknown("x")]);
    for _ in 0..5 {
        let r = h.step().await;
        assert!(
            r.events
                .iter()
                .all(|e| !matches!(e, Event::Resolved { key, .. } if key.invariant == "x"))
        );
        assert_eq!(r.firing.len(), 2, "x[a] and x[b] still firing");
        assert_eq!(r.observed().count(), 0, "but not seen by this observation");
    }
    let open: Vec<String> = h
        .store
        .open_tickets("scripted")
        .unwrap()
        .iter()
        .map(|t| t.key().to_string())
        .collect();
    assert_eq!(open, ["x[a]", "x[b]"], "x stays open, y resolved");
    // x evaluated again and clear: resolves.
    h.script.clear();
    assert_eq!(resolved(&h.step().await.events), 2);
}

#[tokio::test(start_paused = true)]
async fn observation_timeout_is_a_failed_observation() {
    let mut h = Harness::new(spec(0, 0), config());
    h.script.set(Step::Hang);
    let started = Instant::now();
    let r = h.monitor.tick().await.unwrap();
    assert_eq!(
        started.elapsed(),
        secs(2),
        "bounded by the observation timeout"
    );
    assert!(
        r.observation_error
            .unwrap()
            .contains("timed out after 2000 ms")
    );
    assert_eq!(r.firing[0].violation.invariant, SUBJECT_UNREACHABLE);
    assert_eq!(opened(&r.events), 1);
}

#[tokio::test(start_paused = true)]
async fn repeated_violation_is_one_ticket_with_occurrences() {
    let mut h = Harness::new(spec(0, 0), config());
    h.script
        .show(vec![warn("x").entity("a"), warn("x").entity("b")]);
    let mut events = 0;
    for _ in 0..5 {
        events += h.step().await.events.len();
    }
    assert_eq!(events, 2, "one opening per entity, nothing more");
    let tickets = h.all_tickets();
    assert_eq!(tickets.len(), 2);
    assert!(tickets.iter().all(|t| t.occurrences == 5));
}

#[tokio::test(start_paused = true)]
async fn worsening_violation_raises_severity_and_never_lowers_it() {
    let mut h = Harness::new(spec(0, 0), config());
    h.script.show(vec![warn("x")]);
    h.step().await;
    h.script
        .show(vec![Violation::new("x", Severity::Critical, "x is down")]);
    let r = h.step().await;
    assert!(
        matches!(
            &r.events[..],
            [Event::Escalated {
                from: Severity::Warning,
                ..
            }]
        ),
        "{:?}",
        r.events
    );
    h.script.show(vec![warn("x")]);
    let r = h.step().await;
    assert!(r.events.is_empty());
    let t = &h.all_tickets()[0];
    assert_eq!(t.severity, Severity::Critical);
    assert_eq!(t.message, "x is broken", "the message is the latest one");
    let kinds: Vec<String> = h
        .store
        .events(t.id)
        .unwrap()
        .into_iter()
        .map(|e| e.kind.to_string())
        .collect();
    assert_eq!(kinds, ["opened", "escalated"]);
    assert_eq!(
        h.store.snapshots(t.id).unwrap().len(),
        2,
        "a snapshot at opening and at escalation"
    );
}

#[tokio::test(start_paused = true)]
async fn held_ticket_is_not_auto_resolved_until_released() {
    let mut h = Harness::new(spec(0, 0), config());
    h.script.show(vec![warn("x")]);
    h.step().await;
    let id = h.all_tickets()[0].id;
    h.store.set_held(id, true, chrono::Utc::now()).unwrap();
    h.script.clear();
    let r = h.step().await;
    assert!(
        matches!(&r.events[..], [Event::ClearedWhileHeld { .. }]),
        "{:?}",
        r.events
    );
    for _ in 0..5 {
        assert!(h.step().await.events.is_empty());
    }
    assert_eq!(h.store.get(id).unwrap().status, TicketStatus::Open);
    let held_logs = h
        .store
        .events(id)
        .unwrap()
        .iter()
        .filter(|e| e.kind == EventKind::ClearedWhileHeld)
        .count();
    assert_eq!(held_logs, 1, "the log does not repeat itself every tick");

    h.store.set_held(id, false, chrono::Utc::now()).unwrap();
    let r = h.step().await;
    assert_eq!(resolved(&r.events), 1, "released and still clear: resolved");
    assert_eq!(h.store.get(id).unwrap().status, TicketStatus::Resolved);
}

#[tokio::test(start_paused = true)]
async fn a_new_monitor_resolves_tickets_left_open_by_an_earlier_one() {
    let mut h = Harness::new(spec(0, 2), config());
    h.script.show(vec![warn("x")]);
    h.step().await;
    // A second monitor on the same database, as after a restart; the violation is gone.
    let script = support::Script::new();
    let mut again = operator_core::MonitorLoop::new(
        script,
        support::PassThrough(spec(0, 2)),
        std::sync::Arc::clone(&h.store),
        config(),
    )
    .unwrap();
    let mut resolved_at = None;
    for t in 0..5 {
        if resolved(&again.tick().await.unwrap().events) == 1 {
            resolved_at = Some(t);
            break;
        }
        tokio::time::advance(secs(1)).await;
    }
    assert_eq!(
        resolved_at,
        Some(2),
        "resolved after its keep-firing period, not at once"
    );
}

#[tokio::test(start_paused = true)]
async fn manually_resolved_ticket_reopens_if_the_violation_persists() {
    let mut h = Harness::new(spec(0, 0), config());
    h.script.show(vec![warn("x")]);
    h.step().await;
    let first = h.all_tickets()[0].id;
    h.store
        .resolve(first, "fixed by hand", chrono::Utc::now())
        .unwrap();
    let r = h.step().await;
    assert_eq!(opened(&r.events), 1);
    assert_ne!(r.events[0].ticket(), first);
}

#[tokio::test(start_paused = true)]
async fn immediate_mode_ignores_pending_and_keep_firing() {
    let mut h = Harness::new(spec(60, 60), config().immediate(true));
    h.script.show(vec![warn("x")]);
    assert_eq!(opened(&h.step().await.events), 1);
    h.script.clear();
    assert_eq!(resolved(&h.step().await.events), 1);
}

#[tokio::test(start_paused = true)]
async fn run_ticks_on_a_fixed_schedule_that_does_not_drift() {
    let mut h = Harness::new(spec(0, 0), config());
    h.script.set(Step::Ok {
        violations: vec![],
        delay: std::time::Duration::from_millis(300),
    });
    let start = Instant::now();
    let summary = h.run_for(std::time::Duration::from_millis(5_500)).await;
    assert_eq!(summary.ticks, 6);
    let offsets: Vec<u128> = h
        .script
        .calls
        .lock()
        .unwrap()
        .iter()
        .map(|t| (*t - start).as_millis())
        .collect();
    assert_eq!(
        offsets,
        [0, 1000, 2000, 3000, 4000, 5000],
        "each 300 ms observation does not push the next tick"
    );
}

#[tokio::test(start_paused = true)]
async fn run_skips_missed_ticks_instead_of_bursting() {
    let mut h = Harness::new(spec(0, 0), config().observe_timeout(secs(10)));
    h.script.set(Step::Ok {
        violations: vec![],
        delay: std::time::Duration::from_millis(2_500),
    });
    let start = Instant::now();
    h.run_for(std::time::Duration::from_millis(8_900)).await;
    let offsets: Vec<u128> = h
        .script
        .calls
        .lock()
        .unwrap()
        .iter()
        .map(|t| (*t - start).as_millis())
        .collect();
    assert_eq!(
        offsets,
        [0, 3000, 6000],
        "slow ticks stay on the grid of the interval"
    );
}

#[tokio::test(start_paused = true)]
async fn run_stops_on_shutdown_even_during_an_observation() {
    let mut h = Harness::new(spec(0, 0), config().observe_timeout(secs(3600)));
    h.script.set(Step::Hang);
    let start = Instant::now();
    let summary = h.run_for(secs(5)).await;
    assert_eq!(
        start.elapsed(),
        secs(5),
        "shutdown interrupts the hanging observation"
    );
    assert_eq!(summary.ticks, 1);
}

#[tokio::test(start_paused = true)]
async fn run_keeps_going_after_failed_observations() {
    let mut h = Harness::new(spec(0, 0), config());
    h.script.set(Step::Fail("boom".into()));
    let summary = h.run_for(std::time::Duration::from_millis(4_500)).await;
    assert_eq!((summary.ticks, summary.failed_observations), (5, 5));
}

#[tokio::test(start_paused = true)]
async fn a_resolution_the_store_refused_is_retried_on_the_next_tick() {
    let mut h = Harness::new(spec(0, 0), config());
    h.script.show(vec![warn("x")]);
    h.step().await;
    h.store
        .set_busy_timeout(std::time::Duration::from_millis(10))
        .unwrap();
    // Another process holds the write lock while the violation clears.
    let blocker = rusqlite::Connection::open(h.dir.path().join("tickets.db")).unwrap();
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    h.script.clear();
    assert!(h.monitor.tick().await.is_err(), "the store is locked");
    blocker.execute_batch("COMMIT").unwrap();
    tokio::time::advance(secs(1)).await;
    let r = h.monitor.tick().await.unwrap();
    assert_eq!(resolved(&r.events), 1, "retried, not forgotten");
    assert!(h.store.open_tickets("scripted").unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_tick_reads_the_clock_once() {
    let mut h = Harness::new(spec(0, 0), config());
    h.script.show(vec![warn("x")]);
    let r = h.step().await;
    // The store keeps microseconds.
    let at = r.observed_at.trunc_subsecs(6);
    let t = &h.all_tickets()[0];
    let events = h.store.events(t.id).unwrap();
    let snapshots = h.store.snapshots(t.id).unwrap();
    assert_eq!(
        (t.first_seen, t.last_seen, events[0].at, snapshots[0].at),
        (at, at, at, at),
        "the report, the ticket, its log and its snapshot carry the tick's one time"
    );
    h.script.clear();
    let r = h.step().await;
    let t = h.store.get(t.id).unwrap();
    assert_eq!(t.resolved_at, Some(r.observed_at.trunc_subsecs(6)));
}
