//! The SQLite ticket store: schema, dedup, lifecycle, and concurrent writers on one file.

use std::sync::Arc;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use operator_core::ticket::{
    AutoResolve, SCHEMA_VERSION, Snapshot, TicketFilter, TicketStatus, Upsert,
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
    let kinds: Vec<String> = s.events(id).unwrap().into_iter().map(|e| e.kind).collect();
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
        reason: "opened".into(),
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
