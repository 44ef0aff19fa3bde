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

use serde_json::Value;
use stack_support::{StackDir, listening, operator, stderr, stdout};
use support::{DEADLINE, Load, Monitor};

/// A stack on free ports with the continuous monitor watching it.
fn rig() -> (StackDir, Monitor) {
    let s = StackDir::new();
    s.up();
    let m = Monitor::start_on(&s.redis_url(), &s.nodes_flag(), &[]);
    (s, m)
}

/// `host:port` of node `n` (1-based): the entity the monitor names it by.
fn node(s: &StackDir, n: usize) -> String {
    format!("127.0.0.1:{}", s.node_ports[n - 1])
}

fn message(v: &Value) -> &str {
    v["message"].as_str().unwrap_or_default()
}

#[test]
fn key_prefix_mismatch_is_drift_on_that_node_diagnosed_and_undone() {
    let (s, mut m) = rig();
    s.chaos(&["key-prefix-mismatch", "2"]);
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
    let (rule, root, summary) = s.diagnose(&m.db, &v["ticket"]);
    assert_eq!(rule, "key_prefix_mismatch", "{root}");
    assert!(root.contains("another --key-prefix"), "{root}");
    assert!(
        summary.contains(&odd) && summary.contains("\"chaos-other:\" instead of \"ratelimit:\""),
        "{summary}"
    );

    let out = s.chaos(&["undo", "key-prefix-mismatch", "2"]);
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
    let out = s.chaos(&["clock-drift", "2", "5s"]);
    assert!(
        stdout(&out).contains("node-2's clock is 5000 ms off"),
        "{}",
        stdout(&out)
    );
    let skewed = node(&s, 2);
    let v = m.wait("opened", "counter_drift", Some(&skewed), DEADLINE);
    assert!(message(&v).contains("ms ahead of Redis TIME"), "{v}");
    let (rule, root, summary) = s.diagnose(&m.db, &v["ticket"]);
    assert_eq!(rule, "clock_skew", "{root}");
    assert!(root.contains("clock is off"), "{root}");
    assert!(
        summary.contains(&skewed) && summary.contains("ms ahead of Redis TIME"),
        "{summary}"
    );
    s.chaos(&["undo", "clock-drift", "2"]);
    m.wait("resolved", "counter_drift", Some(&skewed), DEADLINE);
}

#[test]
fn eviction_under_maxmemory_is_unhealthy_redis_diagnosed_and_undone() {
    let (s, mut m) = rig();
    let _load = Load::start(s.node_ports.clone(), 150);
    let out = s.chaos(&["eviction"]);
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
    let (rule, root, summary) = s.diagnose(&m.db, &v["ticket"]);
    assert_eq!(rule, "eviction_under_maxmemory", "{root}");
    assert!(root.contains("maxmemory and evicts"), "{root}");
    assert!(
        summary.contains("memory limit (policy allkeys-lru)"),
        "{summary}"
    );
    let out = s.chaos(&["undo", "eviction"]);
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
    let (rule, root, summary) = s.diagnose(&m.db, &v["ticket"]);
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
