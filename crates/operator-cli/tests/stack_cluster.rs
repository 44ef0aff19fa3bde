//! `operator stack up --redis cluster` through the binary: a real Redis Cluster of six local
//! `redis-server` processes (3 primaries + 3 replicas) with three nodes in cluster mode;
//! `chaos kill-redis-primary` and its undo; the monitor naming the dead instance; `stack down`
//! leaving nothing behind.

mod stack_support;

use stack_support::{alive, listening, operator, stderr, stdout};
use test_support::ClusterPorts;

/// A cluster stack's state directory and ports; `stack down` on drop.
struct ClusterStack {
    dir: tempfile::TempDir,
    base: u16,
    nodes: Vec<u16>,
}

impl ClusterStack {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            base: ClusterPorts::pick().base,
            nodes: test_support::free_ports(3),
        }
    }

    fn path(&self) -> String {
        self.dir.path().display().to_string()
    }

    fn seeds(&self) -> String {
        ClusterPorts { base: self.base }.seed_urls()
    }

    fn node_urls(&self) -> String {
        self.nodes
            .iter()
            .map(|p| format!("http://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `operator monitor --once` on the cluster: its exit code and stdout.
    fn monitor_once(&self) -> (Option<i32>, String) {
        let out = operator(&[
            "monitor",
            "--subject",
            "ratelimit",
            "--redis-mode",
            "cluster",
            "--redis-url",
            &self.seeds(),
            "--nodes",
            &self.node_urls(),
            "--once",
        ]);
        (out.status.code(), stdout(&out))
    }
}

impl Drop for ClusterStack {
    fn drop(&mut self) {
        let _ = operator(&["stack", "down", "--state-dir", &self.path()]);
    }
}

#[test]
fn a_cluster_stack_fails_over_a_killed_primary_and_comes_down_clean() {
    let s = ClusterStack::new();
    let dir = s.path();
    let base = s.base.to_string();
    let node_ports = s
        .nodes
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let out = operator(&[
        "stack",
        "up",
        "--redis",
        "cluster",
        "--redis-port",
        &base,
        "--node-ports",
        &node_ports,
        "--state-dir",
        &dir,
    ]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    for n in 1..=6 {
        assert!(text.contains(&format!("redis-{n}")), "{text}");
    }
    assert_eq!(text.matches(" ready ").count(), 9, "{text}");
    assert!(
        text.contains("--redis-mode cluster") && text.contains(&s.seeds()),
        "the monitor hint names the cluster: {text}"
    );
    // Nodes decide on the cluster.
    let (status, body) = test_support::http::request(
        s.nodes[0],
        "POST",
        "/v1/check",
        Some(r#"{"key": "user:1"}"#),
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let (code, report) = s.monitor_once();
    assert_eq!(code, Some(0), "a fresh cluster stack is healthy: {report}");

    // Kill shard 1's primary: a replica takes over, the monitor names the dead instance.
    let out = operator(&[
        "chaos",
        "--state-dir",
        &dir,
        "--subject",
        "ratelimit",
        "kill-redis-primary",
        "1",
    ]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(text.contains("ok   a replica took over shard 1"), "{text}");
    let dead = text
        .split_once("127.0.0.1:")
        .and_then(|(_, rest)| rest.split(|c: char| !c.is_ascii_digit()).next())
        .map(|p| format!("127.0.0.1:{p}"))
        .unwrap();
    let (code, report) = s.monitor_once();
    assert_eq!(code, Some(1), "{report}");
    assert!(
        report.contains(&format!("redis_healthy[{dead}]")),
        "{report}"
    );
    assert!(
        report.contains("replica_live["),
        "the new primary has no replica: {report}"
    );
    // The nodes keep deciding.
    let (status, body) = test_support::http::request(
        s.nodes[1],
        "POST",
        "/v1/check",
        Some(r#"{"key": "user:2"}"#),
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");

    let out = operator(&[
        "chaos",
        "--state-dir",
        &dir,
        "--subject",
        "ratelimit",
        "undo",
        "kill-redis-primary",
        "1",
    ]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(text.contains("ok   the cluster is whole"), "{text}");
    let (code, report) = s.monitor_once();
    assert_eq!(code, Some(0), "whole again: {report}");

    let pids = stack_support::pids_in(s.dir.path());
    assert_eq!(pids.len(), 9);
    let out = operator(&["stack", "down", "--state-dir", &dir]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    for pid in &pids {
        assert!(!alive(*pid), "pid {pid} survived stack down");
    }
    let mut ports = ClusterPorts { base: s.base }.all();
    ports.extend(&s.nodes);
    for port in ports {
        assert!(!listening(port), "port {port} still listening");
    }
}
