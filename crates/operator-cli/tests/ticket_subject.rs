//! The ticket knows its subject: `operator diagnose TICKET` and `operator agent --ticket` take
//! it from the ticket, on a real stack (a real `redis-server` and `ratelimiter-node`s), and a
//! `--subject` that disagrees is a usage error naming the flag. Also `operator tickets prune`.

use std::path::Path;
use std::process::{Command, Output};

use chrono::Utc;
use operator_core::{Severity, TicketStore, Violation};
use serde_json::Value;
use test_support::LocalStack;

fn operator(db: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_operator"));
    cmd.arg("--db")
        .arg(db)
        .args(args)
        .env("OPERATOR_LOG", "error");
    for var in [
        "OPERATOR_SUBJECT",
        "OPERATOR_DIAGNOSER",
        "OPERATOR_RETENTION",
    ] {
        cmd.env_remove(var);
    }
    cmd.output().expect("run operator")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A `ratelimit` ticket: a node the monitor saw down.
fn seed(db: &Path) -> i64 {
    let store = TicketStore::open(db).unwrap();
    let now = Utc::now();
    let v = Violation::new("node_down", Severity::Critical, "node-9 is down").entity("node-9");
    store.upsert("ratelimit", &v, now, now).unwrap().id()
}

#[test]
fn diagnose_and_agent_take_the_subject_from_the_ticket() {
    let stack = LocalStack::start(1, |_| vec![]);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let id = seed(&db).to_string();
    let redis = format!("redis://127.0.0.1:{}", stack.redis.port());
    let conn = [
        "--redis-url",
        redis.as_str(),
        "--nodes",
        &stack.nodes_flag(),
    ];

    let mut args = vec!["--json", "diagnose", &id, "--context-only"];
    args.extend(conn);
    let out = operator(&db, &args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc: Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    assert_eq!(doc["subject"]["name"], "ratelimit");
    assert_eq!(doc["ticket"]["id"].to_string(), id);
    assert!(
        doc["now"].is_object(),
        "observed the ticket's subject now: {doc}"
    );

    // The same subject given explicitly is accepted.
    let mut args = vec![
        "--json",
        "diagnose",
        &id,
        "--context-only",
        "--subject",
        "ratelimit",
    ];
    args.extend(conn);
    assert_eq!(operator(&db, &args).status.code(), Some(0));

    // An agent session on the ticket, subject from the ticket.
    let mut args = vec!["--json", "agent", "--ticket", &id, "--mode", "observe"];
    args.extend(conn);
    let out = operator(&db, &args);
    let err = text(&out.stderr);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{err}");
    let session: Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    assert_eq!(session["ticket"].to_string(), id, "{session}");
    assert_eq!(session["mode"], "observe");
}

#[test]
fn a_subject_that_disagrees_with_the_ticket_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let id = seed(&db).to_string();
    for args in [
        vec!["diagnose", &id, "--subject", "tikv"],
        vec!["agent", "--ticket", &id, "--subject", "tikv"],
    ] {
        let out = operator(&db, &args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("--subject") && err.contains("\"ratelimit\"") && err.contains("\"tikv\""),
            "{args:?}: {err}"
        );
    }
    // Without a ticket, the agent still needs --subject.
    let out = operator(&db, &["agent", "--once"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--subject"),
        "{}",
        text(&out.stderr)
    );
    // So does the monitor, as clap says.
    let out = operator(&db, &["monitor", "--once"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--subject"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn tickets_prune_deletes_old_resolved_tickets_and_reports_counts() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let store = TicketStore::open(&db).unwrap();
    let now = Utc::now();
    for (entity, days) in [("a", 10), ("b", 5), ("c", 1)] {
        let at = now - chrono::Duration::days(days);
        let v = Violation::new("x", Severity::Warning, "broken").entity(entity);
        store.upsert("sim", &v, at, at).unwrap();
        store.resolve_cleared("sim", &v.key(), at).unwrap();
    }
    let open = Violation::new("x", Severity::Warning, "broken").entity("open");
    let long_ago = now - chrono::Duration::days(100);
    store.upsert("sim", &open, long_ago, long_ago).unwrap();
    drop(store);

    let out = operator(
        &db,
        &[
            "--json",
            "tickets",
            "prune",
            "--retention",
            "3d",
            "--dry-run",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let dry: Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    assert_eq!(
        (dry["tickets"].as_u64(), dry["events"].as_u64()),
        (Some(2), Some(4))
    );
    assert_eq!(dry["dry_run"], true);

    let out = operator(&db, &["tickets", "prune", "--retention", "3d"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(said.starts_with("deleted 2 resolved tickets"), "{said}");
    let out = operator(&db, &["--json", "tickets", "list", "--status", "all"]);
    let left: Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    let mut entities: Vec<&str> = left
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["entity"].as_str().unwrap())
        .collect();
    entities.sort_unstable();
    assert_eq!(
        entities,
        ["c", "open"],
        "the recent and the open ticket stay"
    );

    // The default is 30 days; `off` refuses, naming the flag.
    let out = operator(&db, &["--json", "tickets", "prune"]);
    assert_eq!(out.status.code(), Some(0));
    let out = operator(&db, &["tickets", "prune", "--retention", "off"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--retention"),
        "{}",
        text(&out.stderr)
    );
    let out = operator(&db, &["tickets", "prune", "--retention", "soon"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--retention"),
        "{}",
        text(&out.stderr)
    );
}
