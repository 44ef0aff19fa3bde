//! `operator agent` and `operator audit` on the real stack: the agent repairs stuck keys and
//! reseeds dropped policies, resolving a ticket only after observing the violation clear; in
//! observe mode it changes nothing; what no allowed action can fix (Redis killed, frozen nodes)
//! is escalated once, with the reason.

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Instant;

use serde_json::Value;
use support::diagnosis::{SIGCONT, SIGSTOP, json_lines, run, ticket_json, ticket_of};
use support::{DEADLINE, once};
use test_support::{ChildGuard, LocalStack};

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
    let mut stack = LocalStack::start(3, |_| vec![]);
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
    assert_eq!(
        stack.redis.cmd(&["DEL", "ratelimit:{shared}:policies"]),
        ":1"
    );
    let session = agent.wait("config_loaded", "resolved");
    assert_eq!(session["diagnosis"]["rule"], "policies_deleted");
    let executed = &session["executed"][0];
    assert_eq!(executed["action"]["action"], "reseed_policies");
    assert_eq!(executed["report"]["changed"], true);
    let summary = executed["report"]["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("wrote back 1 policy last seen at version"),
        "{summary}"
    );
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
            .cmd(&["HEXISTS", "ratelimit:{shared}:policies", "version"]),
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
    for n in &mut stack.nodes {
        n.wait_ready();
    }
    let id = ticket_of(&db, "config_loaded");
    assert_eq!(ticket_json(&db, id)["ticket"]["status"], "resolved");
}

#[test]
fn allowing_an_undeclared_action_is_a_usage_error_and_unknown_sessions_fail() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db").to_string_lossy().into_owned();
    let out = Command::new(env!("CARGO_BIN_EXE_operator"))
        .args(["--db", &db, "agent", "--once", "--mode", "execute"])
        .args(["--allow", "flushall", "--subject", "ratelimit"])
        .env("OPERATOR_LOG", "error")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--allow") && err.contains("\"flushall\" is not an action of this subject"),
        "{err}"
    );
    assert!(err.contains("reset_counter, update_policy, repair_stuck_keys, reseed_policies"));
    let (code, out) = support::operator(&["--db", &db, "audit", "show", "42"]);
    assert_eq!(code, 1, "{out}");
    let (code, out) = support::operator(&["--db", &db, "audit", "list"]);
    assert_eq!((code, out.trim()), (0, "no agent sessions"));
}
