//! Retention of the ticket store: a week of simulated tickets pruned, the database bounded over
//! many cycles, the monitor pruning on its own, and store calls kept off the async runtime.

mod support;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use operator_core::InvariantSpec;
use operator_core::ticket::{
    AuditKind, Mode, Snapshot, SnapshotReason, TicketFilter, TicketStatus,
};
use operator_core::{Severity, TicketStore, Violation};
use serde_json::json;
use support::{Harness, config};

fn day(d: i64) -> chrono::Duration {
    chrono::Duration::days(d)
}

fn store() -> (Arc<TicketStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = TicketStore::open(dir.path().join("tickets.db")).unwrap();
    (Arc::new(store), dir)
}

/// Opens a ticket for `entity` at `at`, with a snapshot, an agent session and an audit entry;
/// resolves it at `resolved` when given. Returns its id.
fn ticket(
    s: &TicketStore,
    entity: &str,
    at: DateTime<Utc>,
    resolved: Option<DateTime<Utc>>,
) -> i64 {
    let v = Violation::new("x", Severity::Warning, "broken").entity(entity);
    let id = s.upsert("sim", &v, at, at).unwrap().id();
    let snapshot = Snapshot {
        at,
        reason: SnapshotReason::Opened,
        observation: json!({ "payload": "o".repeat(2000) }),
        history: json!([]),
    };
    s.add_snapshot(id, &snapshot).unwrap();
    let session = s
        .start_session(id, "sim", Mode::Observe, "offline", at)
        .unwrap();
    s.add_audit(
        id,
        Some(session),
        &AuditKind::Observation,
        "seen",
        None,
        &json!({}),
        at,
    )
    .unwrap();
    if let Some(r) = resolved {
        s.resolve_cleared("sim", &v.key(), r).unwrap();
    }
    id
}

fn count(s: &TicketStore, status: Option<TicketStatus>) -> usize {
    s.list(&TicketFilter {
        status,
        ..TicketFilter::default()
    })
    .unwrap()
    .len()
}

#[test]
fn a_week_of_simulated_tickets_pruned_keeps_the_recent_and_the_open_ones() {
    let (s, _dir) = store();
    let end = Utc::now().trunc_subsecs(6);
    let start = end - day(7);
    // Ten tickets a day over 7 days, each resolved an hour after it opened; two opened on the
    // first day and never resolved.
    let mut resolved_at = Vec::new();
    for d in 0..7 {
        for n in 0..10 {
            let at = start + day(d) + chrono::Duration::minutes(n * 5);
            let r = at + chrono::Duration::hours(1);
            resolved_at.push((ticket(&s, &format!("d{d}n{n}"), at, Some(r)), r));
        }
    }
    let open: Vec<i64> = (0..2)
        .map(|n| ticket(&s, &format!("open{n}"), start, None))
        .collect();
    let cutoff = end - day(3);
    let doomed: Vec<i64> = resolved_at
        .iter()
        .filter(|(_, r)| *r < cutoff)
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(doomed.len(), 40, "days 0..4 end before the cutoff");

    let dry = s.prune(cutoff, true).unwrap();
    assert_eq!(
        (dry.tickets, dry.snapshots, dry.sessions, dry.audit_entries),
        (40, 40, 40, 40)
    );
    assert!(dry.dry_run);
    assert_eq!(count(&s, None), 72, "a dry run deletes nothing");

    let report = s.prune(cutoff, false).unwrap();
    assert_eq!(report.tickets, 40);
    // Each resolved ticket logged `opened` and `resolved`.
    assert_eq!(report.events, 80);
    assert_eq!(
        (report.snapshots, report.sessions, report.audit_entries),
        (40, 40, 40)
    );
    assert_eq!(count(&s, Some(TicketStatus::Resolved)), 30);
    assert_eq!(
        count(&s, Some(TicketStatus::Open)),
        2,
        "open tickets are never pruned"
    );
    for id in &doomed {
        assert!(s.get(*id).is_err(), "ticket #{id} is gone");
        assert!(s.events(*id).unwrap().is_empty());
        assert!(s.snapshots(*id).unwrap().is_empty());
        assert!(s.audit_for_ticket(*id).unwrap().is_empty());
    }
    for id in &open {
        assert_eq!(s.snapshots(*id).unwrap().len(), 1);
    }
    assert_eq!(
        s.prune(cutoff, false).unwrap().rows(),
        0,
        "pruning again deletes nothing"
    );
}

#[test]
fn the_database_stays_bounded_over_many_cycles() {
    let (s, _dir) = store();
    let t0 = Utc::now().trunc_subsecs(6) - day(60);
    let mut pages_after = Vec::new();
    for d in 0..40 {
        let now = t0 + day(d);
        for n in 0..25 {
            ticket(
                &s,
                &format!("d{d}n{n}"),
                now,
                Some(now + chrono::Duration::minutes(1)),
            );
        }
        s.prune(now - day(3), false).unwrap();
        pages_after.push(s.page_counts().unwrap().0);
        assert!(
            count(&s, None) <= 4 * 25,
            "day {d}: at most four days of tickets are kept"
        );
    }
    let (settled, last) = (pages_after[9], pages_after[39]);
    assert!(
        last <= settled + settled / 10,
        "pages grew from {settled} (day 10) to {last} (day 40): {pages_after:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_monitor_prunes_at_its_first_tick_and_then_hourly() {
    let cfg = config()
        .retention(Some(Duration::from_secs(3 * 86_400)))
        .prune_interval(Duration::from_secs(3600));
    let mut h = Harness::new(vec![InvariantSpec::new("x", "x holds")], cfg);
    let now = Utc::now().trunc_subsecs(6);
    ticket(&h.store, "old", now - day(5), Some(now - day(4)));
    ticket(&h.store, "recent", now - day(1), Some(now - day(1)));
    let first = h.step().await;
    assert_eq!(first.pruned.map(|p| p.tickets), Some(1));
    assert_eq!(h.all_tickets().len(), 1);

    ticket(&h.store, "older", now - day(9), Some(now - day(8)));
    assert_eq!(h.step().await.pruned, None, "the next pass is an hour away");
    tokio::time::advance(Duration::from_secs(3600)).await;
    assert_eq!(h.step().await.pruned.map(|p| p.tickets), Some(1));
    assert_eq!(h.all_tickets().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn without_retention_the_monitor_keeps_everything() {
    let mut h = Harness::new(
        vec![InvariantSpec::new("x", "x holds")],
        config().retention(None),
    );
    let now = Utc::now();
    ticket(&h.store, "old", now - day(400), Some(now - day(399)));
    assert_eq!(h.step().await.pruned, None);
    assert_eq!(h.all_tickets().len(), 1);
}

/// A store call waiting on another process's lock leaves the runtime free: on a
/// single-threaded runtime, a timer keeps ticking while the call waits for the lock.
#[tokio::test(flavor = "current_thread")]
async fn a_locked_database_does_not_stall_the_runtime() {
    let (s, dir) = store();
    let other = rusqlite::Connection::open(dir.path().join("tickets.db")).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let ticks = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let ticker = {
        let ticks = Arc::clone(&ticks);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(20)).await;
                ticks.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        })
    };
    let write = s.call(|s| {
        let v = Violation::new("x", Severity::Warning, "broken");
        s.upsert("sim", &v, Utc::now(), Utc::now())
    });
    let release = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let seen = ticks.load(std::sync::atomic::Ordering::SeqCst);
        other.execute_batch("COMMIT").unwrap();
        seen
    };
    let (written, seen) = tokio::join!(write, release);
    ticker.abort();
    assert!(written.is_ok(), "{written:?}");
    assert!(
        seen >= 10,
        "the timer ticked {seen} times in 500 ms while the store waited"
    );
}
