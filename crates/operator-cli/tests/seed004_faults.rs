//! Seed 004's failure causes end to end on a real local stack (`operator stack up`: a real
//! `redis-server`, three real `ratelimiter-node` processes): each chaos fault (`operator chaos`)
//! opens the right ticket in the real continuous monitor, the offline diagnosis
//! (`operator diagnose`) names the cause, and the undo (or the fault's own end) resolves it.
//!
//! - `key-prefix-mismatch 2`: `counter_drift[node 2]` naming the other prefix, rule
//!   `key_prefix_mismatch`;
//! - `clock-drift 2 5s`: `counter_drift[node 2]` naming the skew, rule `clock_skew`;
//! - `eviction`: `redis_healthy` at maxmemory, rule `eviction_under_maxmemory`;
//! - `slow-redis 100ms 8s` under load: `high_latency` on a node, rule `redis_slow_for_nodes`.

mod stack_support;
mod support;

use std::process::Output;

use serde_json::Value;
use stack_support::{StackDir, listening, operator, stderr, stdout};
use support::{DEADLINE, Load, Monitor};

/// A stack on free ports with the continuous monitor watching it.
fn rig() -> (StackDir, Monitor) {
    let s = StackDir::new();
    s.up();
    let m = Monitor::start_on(&redis_url(&s), &nodes(&s), &[]);
    (s, m)
}

fn redis_url(s: &StackDir) -> String {
    format!("redis://127.0.0.1:{}", s.redis_port)
}

fn nodes(s: &StackDir) -> String {
    s.node_ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// `host:port` of node `n` (1-based): the entity the monitor names it by.
fn node(s: &StackDir, n: usize) -> String {
    format!("127.0.0.1:{}", s.node_ports[n - 1])
}

/// `operator chaos WORDS` on the stack; it must succeed with every verification held.
fn chaos(s: &StackDir, words: &[&str]) -> Output {
    let dir = s.path();
    let mut args = vec!["chaos", "--state-dir", &dir, "--subject", "ratelimit"];
    args.extend(words);
    let out = operator(&args);
    assert!(
        out.status.success() && !stdout(&out).contains("FAIL"),
        "chaos {words:?}: {}{}",
        stdout(&out),
        stderr(&out)
    );
    out
}

/// The offline diagnosis of ticket `id`: (rule, root cause, summary).
fn diagnose(s: &StackDir, m: &Monitor, id: &Value) -> (String, String, String) {
    let (db, id) = (m.db.to_string_lossy().into_owned(), id.to_string());
    let (redis, nodes) = (redis_url(s), nodes(s));
    let args = [
        "--db",
        &db,
        "--json",
        "diagnose",
        &id,
        "--subject",
        "ratelimit",
        "--redis-url",
        &redis,
        "--nodes",
        &nodes,
    ];
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_operator"))
        .args(args)
        .env("OPERATOR_LOG", "error")
        .env_remove("OPERATOR_DIAGNOSER")
        .env_remove("ANTHROPIC_API_KEY")
        .env_remove("OPENAI_API_KEY")
        .output()
        .unwrap();
    assert!(out.status.success(), "diagnose {id}: {}", stderr(&out));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let d = &doc["diagnosis"];
    assert_eq!(d["diagnoser"], "offline", "{d:#}");
    (
        d["rule"].as_str().unwrap_or("no rule").to_owned(),
        d["diagnosis"]["root_cause"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        d["diagnosis"]["summary"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

fn message(v: &Value) -> &str {
    v["message"].as_str().unwrap_or_default()
}

#[test]
fn key_prefix_mismatch_is_drift_on_that_node_diagnosed_and_undone() {
    let (s, mut m) = rig();
    chaos(&s, &["key-prefix-mismatch", "2"]);
    // The restart with other flags is recorded: status says so.
    let status = stdout(&operator(&["stack", "status", "--state-dir", &s.path()]));
    assert!(
        status.contains("runs with --key-prefix chaos-other: over its usual flags"),
        "{status}"
    );
    let odd = node(&s, 2);
    let v = m.wait("opened", "counter_drift", Some(&odd), DEADLINE);
    assert!(
        message(&v).contains("uses key prefix \"chaos-other:\", not \"ratelimit:\""),
        "{v}"
    );
    let (rule, root, summary) = diagnose(&s, &m, &v["ticket"]);
    assert_eq!(rule, "key_prefix_mismatch", "{root}");
    assert!(root.contains("another --key-prefix"), "{root}");
    assert!(
        summary.contains(&odd) && summary.contains("\"chaos-other:\" instead of \"ratelimit:\""),
        "{summary}"
    );

    let out = chaos(&s, &["undo", "key-prefix-mismatch", "2"]);
    assert!(
        stdout(&out).contains("restarted node-2 with its usual flags"),
        "{}",
        stdout(&out)
    );
    m.wait("resolved", "counter_drift", Some(&odd), DEADLINE);
    let status = stdout(&operator(&["stack", "status", "--state-dir", &s.path()]));
    assert!(!status.contains("over its usual flags"), "{status}");
}

#[test]
fn clock_drift_is_drift_on_that_node_diagnosed_and_undone() {
    let (s, mut m) = rig();
    let out = chaos(&s, &["clock-drift", "2", "5s"]);
    assert!(
        stdout(&out).contains("node-2's clock is 5000 ms off"),
        "{}",
        stdout(&out)
    );
    let skewed = node(&s, 2);
    let v = m.wait("opened", "counter_drift", Some(&skewed), DEADLINE);
    assert!(message(&v).contains("ms ahead of Redis TIME"), "{v}");
    let (rule, root, summary) = diagnose(&s, &m, &v["ticket"]);
    assert_eq!(rule, "clock_skew", "{root}");
    assert!(root.contains("clock is off"), "{root}");
    assert!(
        summary.contains(&skewed) && summary.contains("ms ahead of Redis TIME"),
        "{summary}"
    );
    chaos(&s, &["undo", "clock-drift", "2"]);
    m.wait("resolved", "counter_drift", Some(&skewed), DEADLINE);
}

#[test]
fn eviction_under_maxmemory_is_unhealthy_redis_diagnosed_and_undone() {
    let (s, mut m) = rig();
    let _load = Load::start(s.node_ports.clone(), 150);
    let out = chaos(&s, &["eviction"]);
    assert!(
        stdout(&out).contains("maxmemory-policy allkeys-lru"),
        "{}",
        stdout(&out)
    );
    let v = m.wait_whole("opened", "redis_healthy", DEADLINE);
    assert!(
        message(&v).contains("of maxmemory") || message(&v).contains("evicted"),
        "{v}"
    );
    let (rule, root, summary) = diagnose(&s, &m, &v["ticket"]);
    assert_eq!(rule, "eviction_under_maxmemory", "{root}");
    assert!(root.contains("maxmemory and evicts"), "{root}");
    assert!(
        summary.contains("memory limit (policy allkeys-lru)"),
        "{summary}"
    );
    let out = chaos(&s, &["undo", "eviction"]);
    assert!(
        stdout(&out).contains("maxmemory-policy noeviction"),
        "{}",
        stdout(&out)
    );
    m.wait_whole("resolved", "redis_healthy", DEADLINE);
}

#[test]
fn a_slow_redis_makes_decisions_slow_diagnosed_as_redis_and_ends_by_itself() {
    let (s, mut m) = rig();
    let _load = Load::start(s.node_ports.clone(), 300);
    // The fault runs for its duration: the monitor watches meanwhile.
    let fault = {
        let dir = s.path();
        std::thread::spawn(move || {
            operator(&[
                "chaos",
                "--state-dir",
                &dir,
                "--subject",
                "ratelimit",
                "slow-redis",
                "100ms",
                "8s",
            ])
        })
    };
    let v = m.wait("opened", "high_latency", None, DEADLINE);
    assert!(message(&v).contains("decision p99"), "{v}");
    let slow = v["entity"].as_str().unwrap().to_owned();
    let (rule, root, summary) = diagnose(&s, &m, &v["ticket"]);
    assert_eq!(rule, "redis_slow_for_nodes", "{root}");
    assert!(root.contains("Redis does not answer"), "{root}");
    assert!(
        summary.contains(&slow) && summary.contains("slow because Redis"),
        "{summary}"
    );
    let out = fault.join().unwrap();
    assert!(
        out.status.success() && !stdout(&out).contains("FAIL"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("restarted node-1 with its usual flags"),
        "{}",
        stdout(&out)
    );
    m.wait("resolved", "high_latency", Some(&slow), DEADLINE);
}

/// The same causes as `operator eval` trials on a stack of its own: each one detected on the
/// expected entity, diagnosed as its cause, repaired by its undo (or its end), with no false
/// ticket: what the eval summary reports for them.
#[test]
fn the_causes_win_their_eval_trials() {
    let s = StackDir::new();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_operator"));
    cmd.args(["eval", "--subject", "ratelimit", "--json"])
        .args(s.flags())
        .args(["--trials", "1", "--soak", "1s", "--seed", "4"])
        .args([
            "--faults",
            "key-prefix-mismatch 2,clock-drift 2 5s,eviction,slow-redis 100ms 5s",
        ])
        .env("OPERATOR_LOG", "error")
        .env_remove("OPERATOR_DB")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit());
    let (status, lines) = test_support::process::run_collecting_lines(
        "operator eval",
        &mut cmd,
        std::time::Duration::from_secs(180),
    );
    assert!(status.success(), "exit {status}\n{}", lines.join("\n"));
    let v: Value = serde_json::from_str(&lines[0]).unwrap();
    let faults = v["faults"].as_array().unwrap();
    let names: Vec<&str> = faults
        .iter()
        .map(|f| f["fault"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "key-prefix-mismatch 2",
            "clock-drift 2 5s",
            "eviction",
            "slow-redis 100ms 5s"
        ]
    );
    for f in faults {
        assert_eq!(f["won"], 1, "{f:#}");
        assert_eq!(f["diagnosis_correct"], 1, "{f:#}");
        assert_eq!(f["false_tickets"], 0, "{f:#}");
    }
    assert_eq!(v["false_tickets"], 0, "{v:#}");
    for port in s.ports() {
        assert!(!listening(port), "port {port} still listening");
    }
}
