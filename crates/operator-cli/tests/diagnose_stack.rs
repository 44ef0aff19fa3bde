//! `operator diagnose` on the real stack: a real `redis-server`, three real `ratelimiter-node`
//! processes and the real `operator` binary. Each real fault (Redis killed, the policies dropped,
//! a node killed) gets a context document with its evidence, the history before and during the
//! fault and the declared actions, redacted and within its budget, and an offline diagnosis
//! naming the right cause; a configured model is asked, a missing one is a usage error.

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use support::diagnosis::{PASSWORD, SIGCONT, SIGSTOP, run, ticket_json, ticket_of};
use support::{DEADLINE, Monitor, once};
use test_support::LocalStack;

/// A node log file with lines that carry secrets.
fn node_log(dir: &Path) -> PathBuf {
    let path = dir.join("node-1.log");
    let mut f = std::fs::File::create(&path).unwrap();
    writeln!(
        f,
        "2026-01-01T00:00:00Z INFO ratelimiter_node::http: serving node=node-1"
    )
    .unwrap();
    writeln!(
        f,
        "2026-01-01T00:00:01Z INFO connecting to redis://:hunter2@10.0.0.5:6379"
    )
    .unwrap();
    writeln!(
        f,
        "2026-01-01T00:00:02Z WARN admin call rejected: Authorization: Bearer tok-0123456789"
    )
    .unwrap();
    writeln!(
        f,
        "2026-01-01T00:00:03Z WARN redis unreachable: deciding by failure mode node=node-1"
    )
    .unwrap();
    path
}

#[test]
fn redis_killed_gets_a_context_and_an_offline_diagnosis_naming_redis() {
    let mut stack = LocalStack::start(3, |_| vec![]);
    let dir = tempfile::tempdir().unwrap();
    let log = node_log(dir.path());
    // A continuous monitor, so the ticket's snapshot holds the observations before the fault.
    let mut m = Monitor::start(&stack, &[]);
    // An unrelated fault first: once its ticket opens, the monitor has observations to remember,
    // and the Redis ticket has a concurrent one.
    assert_eq!(stack.redis.cmd(&["SET", "ratelimit:leftover", "1"]), "+OK");
    m.wait("opened", "no_stuck_keys", None, DEADLINE);
    stack.redis.kill();
    let opened = m.wait("opened", "redis_healthy", None, DEADLINE);
    let id = opened["ticket"].as_i64().unwrap();
    let db = m.db.clone();
    let log_flag = log.to_string_lossy().into_owned();

    // JSON: the whole story, redacted, within the budget.
    let (code, out, err) = run(
        &db,
        &stack,
        &[
            "--json",
            "diagnose",
            &id.to_string(),
            "--node-log",
            &log_flag,
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    for secret in [PASSWORD, "hunter2", "tok-0123456789"] {
        assert!(!out.contains(secret), "{secret} leaked into the context");
    }
    let doc: Value = serde_json::from_str(&out).unwrap();
    let ctx = &doc["context"];
    assert!(
        serde_json::to_vec(ctx).unwrap().len() <= 64 * 1024,
        "default budget"
    );
    assert_eq!(ctx["ticket"]["invariant"], "redis_healthy");
    // The first failure may be a broken pipe on the open connection; the next, a refusal.
    let error = ctx["ticket"]["evidence"]["error"].as_str().unwrap();
    assert!(error.starts_with("redis: "), "{error}");
    assert_eq!(ctx["now"]["status"], "violated");
    let phases: Vec<(&str, bool)> = ctx["observations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["phase"].as_str().unwrap(),
                o["observation"]["redis"]["reachable"].as_bool().unwrap(),
            )
        })
        .collect();
    assert!(
        phases.contains(&("before", true)),
        "healthy history before the fault: {phases:?}"
    );
    assert!(
        phases.contains(&("opened", false)),
        "the observation that opened it: {phases:?}"
    );
    assert_eq!(phases.last(), Some(&("current", false)));
    let concurrent: Vec<&str> = ctx["concurrent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["invariant"].as_str().unwrap())
        .collect();
    assert!(concurrent.contains(&"no_stuck_keys"), "{concurrent:?}");
    let actions: Vec<&str> = ctx["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "reset_counter",
            "update_policy",
            "repair_stuck_keys",
            "reseed_policies"
        ]
    );
    assert!(
        ctx["subject"]["description"]
            .as_str()
            .unwrap()
            .contains("redis://default:***@")
    );
    let logs = ctx["extra"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "node_logs")
        .unwrap();
    let lines = logs["value"][&log_flag].as_array().unwrap();
    assert_eq!(lines.len(), 4);
    assert!(lines[1].as_str().unwrap().contains("redis://:***@10.0.0.5"));
    assert!(lines[2].as_str().unwrap().contains("Bearer ***"));
    let names: Vec<&str> = ctx["extra"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["failure_modes", "redis_info", "node_logs"]);

    let d = &doc["diagnosis"];
    assert_eq!(d["diagnoser"], "offline");
    assert_eq!(d["rule"], "redis_down");
    let root = d["diagnosis"]["root_cause"].as_str().unwrap();
    assert!(
        root.starts_with("Redis at") && root.contains("is down"),
        "{root}"
    );
    let cited: Vec<&str> = d["diagnosis"]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["source"].as_str().unwrap())
        .collect();
    assert!(cited.contains(&"ticket.evidence.error"), "{cited:?}");
    assert!(
        cited.iter().any(|c| c.ends_with("observation.redis.error")),
        "{cited:?}"
    );
    assert_eq!(d["diagnosis"]["actions"], serde_json::json!([]));

    // Markdown, as a human reads it; a tight budget trims whole entries and says so.
    let (code, md, _) = run(
        &db,
        &stack,
        &["diagnose", &id.to_string(), "--budget", "12000"],
        &[],
    );
    assert_eq!(code, 0);
    for part in [
        "# Context of ticket",
        "## Evidence",
        "## Observations",
        "## Declared actions",
        "# Diagnosis of ticket",
        "**Root cause**",
        "## Alternatives considered",
    ] {
        assert!(md.contains(part), "{part:?} missing:\n{md}");
    }
    assert!(md.contains("## Trimmed to fit the budget"), "{md}");
    let (_, small, _) = run(
        &db,
        &stack,
        &[
            "--json",
            "diagnose",
            &id.to_string(),
            "--budget",
            "12000",
            "--context-only",
        ],
        &[],
    );
    let small: Value = serde_json::from_str(&small).unwrap();
    assert!(serde_json::to_vec(&small).unwrap().len() <= 12_000);
    assert!(!small["trimmed"].as_array().unwrap().is_empty());

    // The diagnosis is kept with the ticket.
    let shown = ticket_json(&db, id);
    assert_eq!(shown["diagnosis"]["rule"], "redis_down");
}

/// Diagnoses ticket `id` as JSON and checks what every real fault's document must hold: its
/// evidence, observations before and during the fault, the declared actions, no secret, the
/// budget. Returns the document.
fn diagnose_checked(db: &Path, stack: &LocalStack, id: i64) -> Value {
    let (code, out, err) = run(
        db,
        stack,
        &["--json", "diagnose", &id.to_string(), "--budget", "40000"],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains(PASSWORD), "the password leaked");
    let doc: Value = serde_json::from_str(&out).unwrap();
    let ctx = &doc["context"];
    assert!(
        serde_json::to_vec(ctx).unwrap().len() <= 40_000,
        "the budget holds"
    );
    assert!(!ctx["ticket"]["evidence"].is_null());
    let phases: Vec<&str> = ctx["observations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["phase"].as_str().unwrap())
        .collect();
    assert!(
        phases.contains(&"before") && phases.contains(&"opened") && phases.contains(&"current"),
        "{phases:?}"
    );
    assert_eq!(ctx["actions"].as_array().unwrap().len(), 4);
    doc
}

/// A continuous monitor that has already observed the stack: it opened (and remembers) a ticket
/// for an unrelated key without TTL.
fn warmed_monitor(stack: &LocalStack) -> Monitor {
    let mut m = Monitor::start(stack, &[]);
    assert_eq!(stack.redis.cmd(&["SET", "ratelimit:warmup", "1"]), "+OK");
    m.wait("opened", "no_stuck_keys", None, DEADLINE);
    m
}

#[test]
fn a_killed_node_is_diagnosed_as_a_process_that_is_not_running() {
    let mut stack = LocalStack::start(3, |_| vec![]);
    let mut m = warmed_monitor(&stack);
    stack.kill_node(1);
    let victim = format!("127.0.0.1:{}", stack.nodes[1].port);
    let id = m.wait("opened", "node_down", Some(&victim), DEADLINE)["ticket"]
        .as_i64()
        .unwrap();
    let doc = diagnose_checked(&m.db.clone(), &stack, id);
    assert_eq!(
        doc["context"]["ticket"]["evidence"]["error"],
        "connection refused"
    );
    assert_eq!(doc["diagnosis"]["rule"], "node_process_down");
    let root = doc["diagnosis"]["diagnosis"]["root_cause"]
        .as_str()
        .unwrap();
    assert!(
        root.contains(&victim) && root.contains("is not running"),
        "{root}"
    );
    assert_eq!(
        doc["diagnosis"]["diagnosis"]["actions"],
        serde_json::json!([])
    );
}

#[test]
fn dropped_policies_are_diagnosed_as_deleted_and_reseeding_is_recommended() {
    let stack = LocalStack::start(3, |_| vec![]);
    let mut m = warmed_monitor(&stack);
    // Frozen nodes cannot restore the policies from memory, so the gap lasts.
    for n in &stack.nodes {
        n.signal(SIGSTOP);
    }
    assert_eq!(
        stack.redis.cmd(&["DEL", "ratelimit:{shared}:policies"]),
        ":1"
    );
    let id = m.wait("opened", "config_loaded", None, DEADLINE)["ticket"]
        .as_i64()
        .unwrap();
    let doc = diagnose_checked(&m.db.clone(), &stack, id);
    for n in &stack.nodes {
        n.signal(SIGCONT);
    }
    let ctx = &doc["context"];
    assert_eq!(
        ctx["ticket"]["evidence"]["key"],
        "ratelimit:{shared}:policies"
    );
    let present: Vec<(String, bool)> = ctx["observations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["phase"].as_str().unwrap().to_owned(),
                o["observation"]["redis"]["policies"]["present"]
                    .as_bool()
                    .unwrap(),
            )
        })
        .collect();
    assert!(present.contains(&("before".into(), true)), "{present:?}");
    assert!(present.contains(&("opened".into(), false)), "{present:?}");
    assert_eq!(doc["diagnosis"]["rule"], "policies_deleted");
    assert_eq!(
        doc["diagnosis"]["diagnosis"]["actions"][0]["action"],
        "reseed_policies"
    );
    let cited: Vec<&str> = doc["diagnosis"]["diagnosis"]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["source"].as_str().unwrap())
        .collect();
    assert!(
        cited.iter().any(|c| c.ends_with("redis.info.run_id")),
        "Redis did not restart: {cited:?}"
    );
}

/// Answers one HTTP request with `body` (200, JSON), returning the request it read.
fn one_shot_server(body: String) -> (String, std::thread::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 65536];
        loop {
            let n = conn.read(&mut buf).unwrap();
            request.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&request);
            if let Some((head, rest)) = text.split_once("\r\n\r\n") {
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap_or(0);
                if rest.len() >= len {
                    break;
                }
            }
        }
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        conn.write_all(response.as_bytes()).unwrap();
        String::from_utf8_lossy(&request).into_owned()
    });
    (url, handle)
}

#[test]
fn a_model_diagnoses_when_configured_and_its_absence_is_a_usage_error() {
    let mut stack = LocalStack::start(1, |_| vec![]);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    stack.redis.kill();
    assert_eq!(once(&stack, &db).0, 1);
    let id = ticket_of(&db, "redis_healthy").to_string();

    let (code, _, err) = run(
        &db,
        &stack,
        &["diagnose", &id, "--diagnoser", "anthropic"],
        &[],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("ANTHROPIC_API_KEY is not set"), "{err}");
    let (code, _, err) = run(
        &db,
        &stack,
        &["diagnose", &id, "--diagnoser", "openai"],
        &[],
    );
    assert_eq!(code, 2);
    assert!(err.contains("OPENAI_API_KEY is not set"), "{err}");

    // A model that answers with a valid diagnosis, as the Messages API does.
    let answer = serde_json::json!({
        "summary": "Redis is dead; start it.", "root_cause": "the Redis process was killed",
        "confidence": 0.8, "evidence": [{"source": "ticket.evidence.error", "detail": "Connection refused"}],
        "alternatives": [], "actions": [], "risks": ["limits are per node meanwhile"],
    });
    let body = serde_json::json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-test",
        "content": [{"type": "text", "text": answer.to_string()}], "stop_reason": "end_turn",
        "stop_sequence": null, "usage": {"input_tokens": 5000, "output_tokens": 120},
    });
    let (url, server) = one_shot_server(body.to_string());
    let env = [
        ("ANTHROPIC_API_KEY", "sk-ant-test-key-0123456789"),
        ("ANTHROPIC_BASE_URL", url.as_str()),
    ];
    let (code, out, err) = run(
        &db,
        &stack,
        &[
            "--json",
            "diagnose",
            &id,
            "--diagnoser",
            "anthropic",
            "--model",
            "claude-test",
        ],
        &env,
    );
    assert_eq!(code, 0, "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["diagnosis"]["diagnoser"], "anthropic/claude-test");
    assert_eq!(
        doc["diagnosis"]["diagnosis"]["root_cause"],
        "the Redis process was killed"
    );
    assert_eq!(doc["diagnosis"]["usage"]["input_tokens"], 5000);
    let request = server.join().unwrap();
    assert!(
        request.starts_with("POST /v1/messages HTTP/1.1"),
        "{request}"
    );
    assert!(
        request
            .to_lowercase()
            .contains("x-api-key: sk-ant-test-key-0123456789")
    );
    assert!(request.contains("anthropic-version: 2023-06-01"));
    assert!(!request.contains(PASSWORD), "no secret in the prompt");

    // A model that cannot be reached: the offline diagnosis, saying why.
    let dead = format!("http://127.0.0.1:{}", test_support::ports::free_port());
    let env = [("OPENAI_BASE_URL", dead.as_str())];
    let (code, out, err) = run(
        &db,
        &stack,
        &[
            "--json",
            "diagnose",
            &id,
            "--diagnoser",
            "openai",
            "--llm-timeout",
            "300ms",
        ],
        &env,
    );
    assert_eq!(code, 0, "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["diagnosis"]["diagnoser"], "offline");
    assert_eq!(doc["diagnosis"]["rule"], "redis_down");
    assert!(
        doc["diagnosis"]["fallback"]
            .as_str()
            .unwrap()
            .starts_with("openai/gpt-4o-mini failed"),
        "{}",
        doc["diagnosis"]["fallback"]
    );
}
