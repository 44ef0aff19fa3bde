//! The `operator` binary's usage errors and ticket commands, against a real SQLite file.

use std::process::{Command, Output};

use chrono::Utc;
use operator_core::{Severity, TicketStore, Violation};

fn operator(db: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_operator"))
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .expect("run operator")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn unknown_subject_is_a_usage_error_listing_the_subjects() {
    let dir = tempfile::tempdir().unwrap();
    let out = operator(&dir.path().join("t.db"), &["monitor", "--subject", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("'nope'") && err.contains("ratelimit") && err.contains("tikv"),
        "{err}"
    );
}

#[test]
fn bad_flags_name_the_flag_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let out = operator(&db, &["monitor", "--subject", "tikv", "--interval", "soon"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--interval"), "{}", stderr(&out));
    let out = operator(
        &db,
        &[
            "monitor",
            "--subject",
            "tikv",
            "--pending",
            "no_such_invariant=5s",
            "--once",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--pending"), "{}", stderr(&out));
}

#[test]
fn unusable_database_path_names_db_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let out = operator(&file.join("t.db"), &["tickets", "list"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--db"), "{}", stderr(&out));
}

fn seed(db: &std::path::Path) -> (i64, i64) {
    let store = TicketStore::open(db).unwrap();
    let now = Utc::now();
    let a = store
        .upsert(
            "demo",
            &Violation::new("node_down", Severity::Critical, "node 2 is down").entity("n2"),
            now,
            now,
        )
        .unwrap()
        .id();
    let b = store
        .upsert(
            "demo",
            &Violation::new("slow", Severity::Warning, "p99 is 80 ms"),
            now,
            now,
        )
        .unwrap()
        .id();
    (a, b)
}

#[test]
fn tickets_list_show_resolve_hold_and_unhold() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let (a, b) = seed(&db);

    let out = operator(&db, &["tickets", "list", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let list: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let ids: Vec<i64> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [b, a], "newest first");
    assert_eq!(list[1]["entity"], "n2");
    assert_eq!(list[1]["severity"], "critical");

    let text = stdout(&operator(&db, &["tickets", "list"]));
    assert!(
        text.contains("node_down[n2]") && text.contains("slow"),
        "{text}"
    );

    let out = operator(&db, &["tickets", "hold", &a.to_string(), "--json"]);
    assert!(out.status.success());
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&stdout(&out)).unwrap()["held"],
        true
    );
    assert!(stdout(&operator(&db, &["tickets", "list"])).contains("open (held)"));
    assert!(
        operator(&db, &["tickets", "unhold", &a.to_string()])
            .status
            .success()
    );

    let out = operator(
        &db,
        &[
            "tickets",
            "resolve",
            &b.to_string(),
            "--note",
            "restarted the node",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let open = stdout(&operator(
        &db,
        &["tickets", "list", "--status", "open", "--json"],
    ));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&open)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let out = operator(&db, &["tickets", "show", &b.to_string(), "--json"]);
    let shown: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(shown["ticket"]["status"], "resolved");
    assert_eq!(shown["ticket"]["resolution"], "restarted the node");
    let kinds: Vec<&str> = shown["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["opened", "resolved"]);

    let text = stdout(&operator(&db, &["tickets", "show", &a.to_string()]));
    assert!(
        text.contains("node 2 is down") && text.contains("held") && text.contains("unheld"),
        "{text}"
    );
}

#[test]
fn unknown_ticket_fails_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    for cmd in ["show", "resolve", "hold", "unhold"] {
        let out = operator(&db, &["tickets", cmd, "999"]);
        assert_eq!(out.status.code(), Some(1), "{cmd}");
        assert!(
            stderr(&out).contains("no ticket #999"),
            "{cmd}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn cli_processes_and_a_writer_share_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let (a, _) = seed(&db);
    // A writer in this process, as the monitor would be, while other processes read and write.
    let writer = {
        let db = db.clone();
        std::thread::spawn(move || {
            let store = TicketStore::open(&db).unwrap();
            for _ in 0..300 {
                let now = Utc::now();
                store
                    .upsert(
                        "demo",
                        &Violation::new("slow", Severity::Warning, "p99"),
                        now,
                        now,
                    )
                    .unwrap();
            }
        })
    };
    let children: Vec<_> = (0..6)
        .map(|i| {
            let args: Vec<String> = match i % 3 {
                0 => vec!["tickets".into(), "list".into(), "--json".into()],
                1 => vec!["tickets".into(), "hold".into(), a.to_string()],
                _ => vec![
                    "tickets".into(),
                    "show".into(),
                    a.to_string(),
                    "--json".into(),
                ],
            };
            Command::new(env!("CARGO_BIN_EXE_operator"))
                .arg("--db")
                .arg(&db)
                .args(&args)
                .output()
                .unwrap()
        })
        .collect();
    writer.join().unwrap();
    for out in children {
        assert!(
            out.status.success(),
            "a concurrent CLI call failed: {}",
            stderr(&out)
        );
    }
    let store = TicketStore::open(&db).unwrap();
    let slow = store
        .list(&operator_core::ticket::TicketFilter {
            invariant: Some("slow".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(slow.len(), 1);
    assert_eq!(slow[0].occurrences, 301);
    assert!(store.get(a).unwrap().held);
}

#[test]
fn continuous_monitor_stops_cleanly_on_sigterm() {
    use std::io::{BufRead, BufReader, Read};
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_operator"));
    cmd.arg("--db")
        .arg(dir.path().join("t.db"))
        .args([
            "--json",
            "monitor",
            "--subject",
            "ratelimit",
            "--redis-url",
            "redis://127.0.0.1:1",
        ])
        .args(["--nodes", "http://127.0.0.1:1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = test_support::ChildGuard::spawn("operator monitor", &mut cmd);
    let mut lines = BufReader::new(child.take_stdout().unwrap()).lines();
    let first: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(first["event"], "opened", "{first}");
    child.signal(15); // SIGTERM
    let started = std::time::Instant::now();
    let status = child.wait().expect("exit status");
    assert_eq!(status.code(), Some(0), "a clean stop");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let _ = lines.count();
    let mut err = String::new();
    let _ = child.take_stderr().map(|mut s| s.read_to_string(&mut err));
    assert!(err.contains("stopped after"), "{err}");
}
