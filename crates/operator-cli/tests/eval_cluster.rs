//! `operator eval --subject ratelimit --redis cluster` end to end on a real local Redis Cluster
//! of its own (six `redis-server` processes and three nodes, on free ports): one trial each of
//! `kill-redis-primary 1` and `failover 2` won (the failover ticket naming the old primary,
//! diagnosed as `redis_cluster_failover`) and of `stuck-keys 10` (its keys across the shards,
//! repaired by the agent), the JSON the issue specifies, nothing left running; a
//! fault that acts on a single Redis is refused on a cluster, naming `--faults`, before
//! anything starts.

mod stack_support;

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use stack_support::{listening, operator, stderr};
use test_support::ClusterPorts;

/// `operator eval --redis cluster` on free ports, its state in `dir`.
fn eval(dir: &std::path::Path, base: u16, nodes: &[u16], extra: &[&str]) -> Command {
    let node_ports = nodes
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_operator"));
    cmd.args(["eval", "--subject", "ratelimit", "--redis", "cluster"])
        .args(["--redis-port", &base.to_string()])
        .args(["--node-ports", &node_ports, "--state-dir"])
        .arg(dir.join("state"))
        .args(extra)
        .env("OPERATOR_LOG", "error")
        .env_remove("OPERATOR_DB")
        .stdin(Stdio::null());
    cmd
}

#[test]
fn a_primary_killed_and_a_failover_are_won_on_a_cluster_and_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let base = ClusterPorts::pick().base;
    let nodes = test_support::free_ports(3);
    let err_path = dir.path().join("eval.stderr");
    let mut cmd = eval(
        dir.path(),
        base,
        &nodes,
        &[
            "--json",
            "--trials",
            "1",
            "--faults",
            "kill-redis-primary 1,failover 2,stuck-keys 10",
            "--seed",
            "3",
        ],
    );
    cmd.stderr(std::fs::File::create(&err_path).unwrap());
    let (status, lines) = test_support::process::run_collecting_lines(
        "operator eval --redis cluster",
        &mut cmd,
        Duration::from_secs(180),
    );
    let err = std::fs::read_to_string(&err_path).unwrap();
    assert!(
        status.success(),
        "exit {status}\n{}\n{err}",
        lines.join("\n")
    );
    assert_eq!(lines.len(), 1, "one JSON document: {lines:?}");
    let v: Value = serde_json::from_str(&lines[0]).unwrap();

    let settings = &v["settings"];
    assert_eq!(settings["redis"], "cluster", "{v:#}");
    assert_eq!(settings["env"], "local");
    assert_eq!(settings["trials"], 1);
    assert_eq!(v["false_tickets"], 0, "{v:#}");
    let faults = v["faults"].as_array().unwrap();
    let names: Vec<&str> = faults
        .iter()
        .map(|f| f["fault"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["kill-redis-primary 1", "failover 2", "stuck-keys 10"]
    );
    for f in faults {
        let mut keys: Vec<&str> = f.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "diagnosis_correct",
                "false_tickets",
                "fault",
                "mttd_ms",
                "mttr_ms",
                "trials",
                "won"
            ]
        );
        assert_eq!(f["trials"], 1, "{f:#}");
        assert_eq!(f["won"], 1, "{f:#}");
        assert_eq!(f["diagnosis_correct"], 1, "{f:#}");
        assert_eq!(f["false_tickets"], 0, "{f:#}");
        for m in ["mttd_ms", "mttr_ms"] {
            let d = &f[m];
            let (median, p90, max) = (
                d["median"].as_u64().unwrap(),
                d["p90"].as_u64().unwrap(),
                d["max"].as_u64().unwrap(),
            );
            assert!(median <= p90 && p90 <= max, "{m}: {d}");
        }
    }
    assert_eq!(err.matches(": won (").count(), 3, "{err}");

    for port in (ClusterPorts { base }).all().into_iter().chain(nodes) {
        assert!(!listening(port), "port {port} still listening");
    }
}

#[test]
fn a_single_redis_fault_is_refused_on_a_cluster_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let base = ClusterPorts::pick().base;
    let nodes = test_support::free_ports(3);
    for fault in ["kill-redis", "drop-policies", "script-flush"] {
        let cmd = eval(dir.path(), base, &nodes, &["--faults", fault]);
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = operator(&args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{fault}: {err}");
        assert!(
            err.contains("--faults") && err.contains(fault) && err.contains("single Redis"),
            "{fault}: {err}"
        );
    }
    assert!(!dir.path().join("state").exists(), "nothing started");
    for port in (ClusterPorts { base }).all().into_iter().chain(nodes) {
        assert!(!listening(port), "port {port} listening");
    }
}
