//! The SQLite ticket store: schema, dedup, lifecycle, and concurrent writers on one file.

use std::sync::Arc;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use operator_core::ticket::{
    AutoResolve, SCHEMA_VERSION, Snapshot, SnapshotReason, TicketFilter, TicketStatus, Upsert,
};
use operator_core::{Error, Severity, TicketStore, Violation};

fn v(invariant: &str, entity: Option<&str>) -> Violation {
    let v = Violation::new(invariant, Severity::Warning, "broken")
        .evidence(serde_json::json!({"n": 1}));
    match entity {
        Some(e) => v.entity(e),
        None => v,
    }
}

/// Now, at the store's precision (microseconds).
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

fn store() -> (TicketStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (
        TicketStore::open(dir.path().join("sub/dir/tickets.db")).unwrap(),
        dir,
    )
}

#[test]
fn creates_directories_and_migrates_to_the_current_version() {
    let (s, dir) = store();
    assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
    drop(s);
    let again = TicketStore::open(dir.path().join("sub/dir/tickets.db")).unwrap();
    assert_eq!(
        again.schema_version().unwrap(),
        SCHEMA_VERSION,
        "reopening is a no-op"
    );
}

#[test]
fn refuses_a_database_from_a_newer_build() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    drop(conn);
    match TicketStore::open(&path) {
        Err(Error::SchemaTooNew { found, supported }) => {
            assert_eq!((found, supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION))
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
}

#[test]
fn one_open_ticket_per_subject_invariant_and_entity() {
    let (s, _d) = store();
    let now = Utc::now();
    let a = s.upsert("sub", &v("x", None), now, now).unwrap();
    assert!(matches!(a, Upsert::Opened(_)));
    assert_eq!(
        s.upsert("sub", &v("x", None), now, now).unwrap(),
        Upsert::Updated {
            id: a.id(),
            escalated_from: None
        }
    );
    let other_entity = s.upsert("sub", &v("x", Some("n1")), now, now).unwrap();
    let other_subject = s.upsert("other", &v("x", None), now, now).unwrap();
    assert!(matches!(other_entity, Upsert::Opened(_)));
    assert!(matches!(other_subject, Upsert::Opened(_)));
    assert_eq!(s.get(a.id()).unwrap().occurrences, 2);

    s.resolve(a.id(), "done", now).unwrap();
    let reopened = s.upsert("sub", &v("x", None), now, now).unwrap();
    assert!(
        matches!(reopened, Upsert::Opened(id) if id != a.id()),
        "a resolved ticket is never reused"
    );
}

#[test]
fn lifecycle_is_logged_and_timestamps_are_utc() {
    let (s, _d) = store();
    let first = now() - Duration::seconds(30);
    let now = now();
    let id = s.upsert("sub", &v("x", None), first, now).unwrap().id();
    let t = s.get(id).unwrap();
    assert_eq!(
        (t.first_seen, t.last_seen),
        (first, now),
        "first_seen is the start of the pending period"
    );
    let mut crit = v("x", None);
    crit.severity = Severity::Critical;
    assert_eq!(
        s.upsert("sub", &crit, first, now).unwrap(),
        Upsert::Updated {
            id,
            escalated_from: Some(Severity::Warning)
        }
    );
    s.set_held(id, true, now).unwrap();
    assert_eq!(
        s.resolve_cleared("sub", &crit.key(), now).unwrap(),
        AutoResolve::Held(id)
    );
    s.set_held(id, false, now).unwrap();
    assert_eq!(
        s.resolve_cleared("sub", &crit.key(), now).unwrap(),
        AutoResolve::Resolved(id)
    );
    assert_eq!(
        s.resolve_cleared("sub", &crit.key(), now).unwrap(),
        AutoResolve::NotOpen
    );
    let t = s.get(id).unwrap();
    assert_eq!(
        (t.status, t.severity, t.resolution.as_deref()),
        (TicketStatus::Resolved, Severity::Critical, Some("auto"))
    );
    let kinds: Vec<String> = s
        .events(id)
        .unwrap()
        .into_iter()
        .map(|e| e.kind.to_string())
        .collect();
    assert_eq!(
        kinds,
        [
            "opened",
            "escalated",
            "held",
            "cleared_while_held",
            "unheld",
            "resolved"
        ]
    );
    // Resolving again by hand changes nothing.
    s.resolve(id, "again", now).unwrap();
    assert_eq!(s.get(id).unwrap().resolution.as_deref(), Some("auto"));
}

#[test]
fn unknown_ticket_is_a_typed_error() {
    let (s, _d) = store();
    assert!(matches!(s.get(42), Err(Error::NoSuchTicket(42))));
    assert!(matches!(
        s.set_held(42, true, Utc::now()),
        Err(Error::NoSuchTicket(42))
    ));
}

#[test]
fn list_filters_and_orders_newest_first() {
    let (s, _d) = store();
    let now = Utc::now();
    for (subject, inv) in [("a", "x"), ("a", "y"), ("b", "x")] {
        s.upsert(subject, &v(inv, None), now, now).unwrap();
    }
    let y = s
        .list(&TicketFilter {
            invariant: Some("y".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(y.len(), 1);
    s.resolve(y[0].id, "by hand", now).unwrap();
    let open_a = s
        .list(&TicketFilter {
            subject: Some("a".into()),
            status: Some(TicketStatus::Open),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        open_a
            .iter()
            .map(|t| t.invariant.as_str())
            .collect::<Vec<_>>(),
        ["x"]
    );
    let ids: Vec<i64> = s
        .list(&TicketFilter {
            limit: Some(2),
            ..Default::default()
        })
        .unwrap()
        .iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(ids, [3, 2]);
}

#[test]
fn snapshots_round_trip() {
    let (s, _d) = store();
    let now = now();
    let id = s.upsert("a", &v("x", None), now, now).unwrap().id();
    let snap = Snapshot {
        at: now,
        reason: SnapshotReason::Opened,
        observation: serde_json::json!({"up": false}),
        history: serde_json::json!([{"at": now, "observation": {"up": true}}]),
    };
    s.add_snapshot(id, &snap).unwrap();
    assert_eq!(s.snapshots(id).unwrap(), vec![snap]);
}

#[test]
fn concurrent_writers_on_separate_connections_keep_one_ticket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    TicketStore::open(&path).unwrap();
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let path = path.clone();
            std::thread::spawn(move || {
                let s = TicketStore::open(&path).unwrap();
                for _ in 0..100 {
                    let now = Utc::now();
                    s.upsert("sub", &v("x", None), now, now).unwrap();
                }
            })
        })
        .collect();
    let reader = {
        let s = Arc::new(TicketStore::open(&path).unwrap());
        std::thread::spawn(move || {
            for _ in 0..100 {
                assert!(s.list(&TicketFilter::default()).unwrap().len() <= 1);
            }
        })
    };
    for w in writers {
        w.join().unwrap();
    }
    reader.join().unwrap();
    let s = TicketStore::open(&path).unwrap();
    let all = s.list(&TicketFilter::default()).unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].occurrences, 400);
}

/// Rows as an earlier operator wrote them (the text forms of every kind, mode and outcome), plus
/// strings this build does not know: all read back, the known ones typed, the others kept as
/// text, and written out again (as JSON) exactly as stored.
#[test]
fn reads_the_stored_text_of_kinds_modes_and_outcomes() {
    use operator_core::agent::{Mode, Outcome};
    use operator_core::ticket::{AuditKind, EventKind};

    let (s, dir) = store();
    let id = s.upsert("a", &v("x", None), now(), now()).unwrap().id();
    let conn = rusqlite::Connection::open(dir.path().join("sub/dir/tickets.db")).unwrap();
    let at = "2025-01-01T00:00:00.000000Z";
    let insert = |sql: &str, text: Option<&str>| {
        conn.execute(sql, rusqlite::params![id, at, text]).unwrap();
    };
    let events = [
        "escalated",
        "held",
        "cleared_while_held",
        "unheld",
        "agent_action",
        "resolved",
        "reopened_by_a_newer_build",
    ];
    for kind in events {
        insert(
            "INSERT INTO ticket_events (ticket_id, at, kind, detail) VALUES (?1, ?2, ?3, '')",
            Some(kind),
        );
    }
    for reason in ["opened", "escalated", "sampled"] {
        insert(
            "INSERT INTO ticket_snapshots (ticket_id, at, reason, observation, history) VALUES (?1, ?2, ?3, 'null', '[]')",
            Some(reason),
        );
    }
    let sessions = [
        ("observe", Some("observed")),
        ("propose", Some("proposed")),
        ("execute", Some("resolved")),
        ("execute", Some("escalated")),
        ("execute", Some("already_clear")),
        ("execute", Some("failed")),
        ("execute", Some("interrupted")),
        ("execute", None),
    ];
    for (mode, outcome) in sessions {
        insert(
            &format!(
                "INSERT INTO agent_sessions (ticket_id, subject, mode, diagnoser, started_at, outcome) VALUES (?1, 'a', '{mode}', 'offline', ?2, ?3)"
            ),
            outcome,
        );
    }
    let entries = [
        "observation",
        "context",
        "prompt",
        "response",
        "diagnosis",
        "plan",
        "action",
        "verification",
        "escalation",
        "resolution",
        "rollback",
    ];
    for kind in entries {
        insert(
            "INSERT INTO audit_entries (ticket_id, session_id, at, kind, summary, body) VALUES (?1, 1, ?2, ?3, '', '{}')",
            Some(kind),
        );
    }

    let read = s.events(id).unwrap();
    assert_eq!(
        read.iter().map(|e| e.kind.clone()).collect::<Vec<_>>(),
        [
            EventKind::Opened,
            EventKind::Escalated,
            EventKind::Held,
            EventKind::ClearedWhileHeld,
            EventKind::Unheld,
            EventKind::AgentAction,
            EventKind::Resolved,
            EventKind::Other("reopened_by_a_newer_build".into()),
        ]
    );
    let json: Vec<String> = read
        .iter()
        .skip(1)
        .map(|e| {
            serde_json::to_value(e).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(json, events);

    let reasons: Vec<SnapshotReason> = s
        .snapshots(id)
        .unwrap()
        .into_iter()
        .map(|s| s.reason)
        .collect();
    assert_eq!(
        reasons,
        [
            SnapshotReason::Opened,
            SnapshotReason::Escalated,
            SnapshotReason::Other("sampled".into())
        ]
    );

    let mut read = s.sessions(Some(id), 100).unwrap();
    read.reverse();
    assert_eq!(
        read.iter()
            .map(|s| (s.mode, s.outcome.clone()))
            .collect::<Vec<_>>(),
        [
            (Mode::Observe, Some(Outcome::Observed)),
            (Mode::Propose, Some(Outcome::Proposed)),
            (Mode::Execute, Some(Outcome::Resolved)),
            (Mode::Execute, Some(Outcome::Escalated)),
            (Mode::Execute, Some(Outcome::AlreadyClear)),
            (Mode::Execute, Some(Outcome::Failed)),
            (Mode::Execute, Some(Outcome::Other("interrupted".into()))),
            (Mode::Execute, None),
        ]
    );
    let json: Vec<(String, serde_json::Value)> = read
        .iter()
        .map(|s| {
            let v = serde_json::to_value(s).unwrap();
            (v["mode"].as_str().unwrap().to_owned(), v["outcome"].clone())
        })
        .collect();
    let stored: Vec<(String, serde_json::Value)> = sessions
        .iter()
        .map(|(m, o)| ((*m).to_owned(), serde_json::json!(o)))
        .collect();
    assert_eq!(json, stored);

    let kinds: Vec<String> = s
        .audit_for_session(1)
        .unwrap()
        .iter()
        .map(|e| e.kind.to_string())
        .collect();
    assert_eq!(kinds, entries);
    assert_eq!(
        s.audit_for_session(1).unwrap()[10].kind,
        AuditKind::Other("rollback".into())
    );
}
