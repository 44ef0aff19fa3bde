//! `operator diagnose`, `operator agent` and `operator audit` on the real stack: a real
//! `redis-server`, three real `ratelimiter-node` processes and the real `operator` binary. Each
//! real fault (Redis killed, a key without TTL, the policies dropped, a node killed) gets a
//! context document with its evidence and history, an offline diagnosis naming the right cause,
//! and, when a declared action can fix it, an agent that fixes it and resolves the ticket only
//! after observing the violation clear.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{DEADLINE, Monitor, once};
use test_support::{ChildGuard, LocalStack};

/// The stack's Redis URL with a password in it (the default user takes any password when none
/// is set), to check that secrets never reach a context document.
const PASSWORD: &str = "s3cret-pw";

/// Signal numbers, without a libc dependency in this crate's tests.
const SIGSTOP: i32 = 19;
const SIGCONT: i32 = 18;

fn secret_url(stack: &LocalStack) -> String {
    format!(
        "redis://default:{PASSWORD}@127.0.0.1:{}",
        stack.redis.port()
    )
}

/// Runs `operator --db DB ARGS --subject ratelimit --redis-url URL --nodes NODES`, returning
/// (exit code, stdout, stderr).
fn run(
    db: &Path,
    stack: &LocalStack,
    args: &[&str],
    env: &[(&str, &str)],
) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_operator"));
    cmd.arg("--db")
        .arg(db)
        .args(args)
        .args(["--subject", "ratelimit", "--redis-url", &secret_url(stack)])
        .args(["--nodes", &stack.nodes_flag()])
        .env("OPERATOR_LOG", "error");
    for var in [
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_BASE_URL",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "OPERATOR_DIAGNOSER",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json_lines(out: &str) -> Vec<Value> {
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The open ticket of `invariant` (any entity) in `db`.
fn ticket_of(db: &Path, invariant: &str) -> i64 {
    let (_, out) = support::operator(&[
        "--db",
        &db.to_string_lossy(),
        "--json",
        "tickets",
        "list",
        "--status",
        "all",
    ]);
    let tickets: Value = serde_json::from_str(&out).unwrap();
    tickets
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["invariant"] == invariant)
        .unwrap_or_else(|| panic!("no {invariant} ticket in {tickets:#}"))["id"]
        .as_i64()
        .unwrap()
}

fn ticket_json(db: &Path, id: i64) -> Value {
    let (code, out) = support::operator(&[
        "--db",
        &db.to_string_lossy(),
        "--json",
        "tickets",
        "show",
        &id.to_string(),
    ]);
    assert_eq!(code, 0, "{out}");
    serde_json::from_str(&out).unwrap()
}

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

#[test]
fn redis_killed_escalates_once_when_no_allowed_action_can_fix_it() {
    let mut stack = LocalStack::start(3, |_| vec![]);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    stack.redis.kill();
    let (code, _) = once(&stack, &db);
    assert_eq!(code, 1);
    let id = ticket_of(&db, "redis_healthy");
    let agent = [
        "--json",
        "agent",
        "--once",
        "--mode",
        "execute",
        "--allow",
        "repair_stuck_keys,reseed_policies",
    ];
    let (code, out, err) = run(&db, &stack, &agent, &[]);
    assert_eq!(code, 1, "an escalation exits 1: {out}{err}");
    let sessions = json_lines(&out);
    let s = sessions.iter().find(|s| s["ticket"] == id).unwrap();
    assert_eq!(s["outcome"], "escalated");
    let detail = s["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("no declared action addresses the diagnosed cause: Redis at"),
        "{detail}"
    );
    assert_eq!(s["steps"], 0);
    // Not retried: a second pass (a restarted agent) leaves it alone.
    let (code, out, _) = run(&db, &stack, &agent, &[]);
    assert_eq!(code, 0);
    assert!(json_lines(&out).iter().all(|s| s["ticket"] != id), "{out}");
    let t = ticket_json(&db, id);
    let escalations = t["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "escalated")
        .count();
    assert_eq!(escalations, 1);
    assert_eq!(t["ticket"]["status"], "open");
}

#[test]
fn stuck_keys_are_left_alone_in_observe_mode_and_repaired_and_verified_in_execute_mode() {
    let stack = LocalStack::start(3, |_| vec![]);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    assert_eq!(stack.redis.cmd(&["SET", "ratelimit:leftover", "1"]), "+OK");
    assert_eq!(once(&stack, &db).0, 1);
    let id = ticket_of(&db, "no_stuck_keys");

    let (_, out, _) = run(&db, &stack, &["--json", "diagnose", &id.to_string()], &[]);
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        doc["context"]["ticket"]["evidence"]["stuck"][0]["key"],
        "ratelimit:leftover"
    );
    assert_eq!(doc["context"]["now"]["status"], "violated");
    assert_eq!(doc["diagnosis"]["rule"], "keys_without_ttl");
    assert_eq!(
        doc["diagnosis"]["diagnosis"]["actions"][0]["action"],
        "repair_stuck_keys"
    );

    // Observe: diagnosed, nothing changed.
    let (code, out, _) = run(
        &db,
        &stack,
        &["--json", "agent", "--once", "--mode", "observe"],
        &[],
    );
    assert_eq!(code, 0);
    assert_eq!(json_lines(&out)[0]["outcome"], "observed");
    assert_eq!(
        stack.redis.cmd(&["PTTL", "ratelimit:leftover"]),
        ":-1",
        "observe changes nothing"
    );
    assert_eq!(ticket_json(&db, id)["ticket"]["status"], "open");

    // Execute: repaired, then verified by observation before the ticket resolves.
    let (code, out, err) = run(
        &db,
        &stack,
        &[
            "--json",
            "agent",
            "--once",
            "--mode",
            "execute",
            "--allow",
            "repair_stuck_keys",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let s = &json_lines(&out)[0];
    assert_eq!(s["outcome"], "resolved", "{s:#}");
    assert_eq!(s["executed"][0]["action"]["action"], "repair_stuck_keys");
    assert_eq!(s["executed"][0]["report"]["changed"], true);
    assert_eq!(s["verification"]["clear"], true);
    assert!(s["verification"]["observations"].as_u64().unwrap() >= 2);
    let ttl: i64 = stack.redis.cmd(&["PTTL", "ratelimit:leftover"])[1..]
        .parse()
        .unwrap();
    assert!(ttl > 0, "{ttl}");
    let t = ticket_json(&db, id);
    assert_eq!(t["ticket"]["status"], "resolved");
    assert!(
        t["ticket"]["resolution"]
            .as_str()
            .unwrap()
            .starts_with("resolved by agent after verification in")
    );
    let kinds: Vec<&str> = t["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    for k in [
        "observation",
        "context",
        "diagnosis",
        "plan",
        "action",
        "verification",
        "resolution",
    ] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }

    // The audit trail, by session.
    let session = s["session"].as_i64().unwrap().to_string();
    let (code, out) =
        support::operator(&["--db", &db.to_string_lossy(), "audit", "show", &session]);
    assert_eq!(code, 0);
    assert!(
        out.contains("verification") && out.contains("ran repair_stuck_keys"),
        "{out}"
    );
    let (_, out) = support::operator(&["--db", &db.to_string_lossy(), "--json", "audit", "list"]);
    let outcomes: Vec<String> = serde_json::from_str::<Value>(&out)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["outcome"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(outcomes, ["resolved", "observed"]);
}

/// `operator --json agent ...` running continuously, its session reports collected.
struct AgentProcess {
    _guard: ChildGuard,
    lines: Receiver<Value>,
    seen: Vec<Value>,
}

impl AgentProcess {
    fn start(db: &Path, stack: &LocalStack, args: &[&str]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_operator"));
        cmd.arg("--db")
            .arg(db)
            .args(["--json", "agent"])
            .args(args)
            .args([
                "--subject",
                "ratelimit",
                "--redis-url",
                &stack.redis.url(),
                "--nodes",
                &stack.nodes_flag(),
            ])
            .env("OPERATOR_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut guard = ChildGuard::spawn("operator agent", &mut cmd);
        let stdout = guard.take_stdout().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let v: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        Self {
            _guard: guard,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a session report about `invariant` with `outcome`.
    fn wait(&mut self, invariant: &str, outcome: &str) -> Value {
        let deadline = Instant::now() + DEADLINE;
        let matches = |v: &Value| v["invariant"] == invariant && v["outcome"] == outcome;
        if let Some(v) = self.seen.iter().find(|v| matches(v)) {
            return v.clone();
        }
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(v) => {
                    self.seen.push(v.clone());
                    if matches(&v) {
                        return v;
                    }
                }
                Err(_) => break,
            }
        }
        panic!(
            "no {outcome} session on {invariant}; sessions: {:#?}",
            self.seen
        );
    }
}

#[test]
fn dropped_policies_are_reseeded_by_the_agent_and_verified() {
    let stack = LocalStack::start(3, |_| vec![]);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let mut agent = AgentProcess::start(
        &db,
        &stack,
        &[
            "--mode",
            "execute",
            "--allow",
            "repair_stuck_keys,reseed_policies",
            "--interval",
            "300ms",
        ],
    );
    // A first fault, fixed: by then the agent has observed the policies.
    assert_eq!(stack.redis.cmd(&["SET", "ratelimit:leftover", "1"]), "+OK");
    agent.wait("no_stuck_keys", "resolved");

    // Frozen nodes cannot restore the policies from memory: only the agent can.
    for n in &stack.nodes {
        n.signal(SIGSTOP);
    }
    assert_eq!(stack.redis.cmd(&["DEL", "ratelimit:policies"]), ":1");
    let session = agent.wait("config_loaded", "resolved");
    assert_eq!(session["diagnosis"]["rule"], "policies_deleted");
    let executed = &session["executed"][0];
    assert_eq!(executed["action"]["action"], "reseed_policies");
    assert_eq!(executed["report"]["changed"], true);
    let via = executed["report"]["details"]["via"].as_str().unwrap();
    assert!(via.starts_with("Redis directly (no node answered"), "{via}");
    assert_eq!(session["verification"]["clear"], true);
    assert!(
        session["detail"]
            .as_str()
            .unwrap()
            .starts_with("resolved by agent after verification in")
    );
    assert_eq!(
        stack
            .redis
            .cmd(&["HEXISTS", "ratelimit:policies", "version"]),
        ":1",
        "restored by the agent"
    );
    // The frozen nodes are a fault no declared action fixes: escalated, with the reason.
    let frozen = agent.wait("node_down", "escalated");
    let why = frozen["detail"].as_str().unwrap();
    assert!(why.contains("is frozen"), "{why}");

    for n in &stack.nodes {
        n.signal(SIGCONT);
    }
    // Thawed, every node loads the restored policies and is ready again.
    for n in &stack.nodes {
        let ready = test_support::stack::wait_for(DEADLINE, || {
            test_support::stack::http_get(n.port, "/readyz").is_ok_and(|(s, _)| s == 200)
        });
        assert!(ready, "node {} not ready", n.id);
    }
    let id = ticket_of(&db, "config_loaded");
    assert_eq!(ticket_json(&db, id)["ticket"]["status"], "resolved");
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
    assert_eq!(stack.redis.cmd(&["DEL", "ratelimit:policies"]), ":1");
    let id = m.wait("opened", "config_loaded", None, DEADLINE)["ticket"]
        .as_i64()
        .unwrap();
    let doc = diagnose_checked(&m.db.clone(), &stack, id);
    for n in &stack.nodes {
        n.signal(SIGCONT);
    }
    let ctx = &doc["context"];
    assert_eq!(ctx["ticket"]["evidence"]["key"], "ratelimit:policies");
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
