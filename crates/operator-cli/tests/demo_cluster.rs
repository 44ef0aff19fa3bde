//! `operator demo ratelimit --redis cluster --json` end to end on a real local Redis Cluster:
//! a taken cluster port moves the six members together, the chapter "a Redis primary killed"
//! reports the failover and the time until exact limiting resumed, and nothing is left running.

mod stack_support;

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::Duration;

use stack_support::{alive, listening};
use test_support::ClusterPorts;

#[test]
fn the_cluster_demo_reports_the_failover_and_exact_limits_resuming() {
    let dir = tempfile::tempdir().unwrap();
    let base = ClusterPorts::pick().base;
    let nodes = test_support::free_ports(3);
    // Something already listens on the cluster's first port: the six members move together.
    let squatter = TcpListener::bind(("127.0.0.1", base)).unwrap();
    let err_path = dir.path().join("demo.stderr");
    let node_ports = nodes
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_operator"));
    cmd.arg("--json")
        .arg("--db")
        .arg(dir.path().join("demo-tickets.db"))
        .args(["demo", "ratelimit", "--redis", "cluster", "--redis-port"])
        .arg(base.to_string())
        .args(["--node-ports", &node_ports, "--state-dir"])
        .arg(dir.path().join("state"))
        .env("OPERATOR_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&err_path).unwrap());
    let lines =
        test_support::process::run_json_lines("operator demo", &mut cmd, Duration::from_secs(180));
    let err = std::fs::read_to_string(&err_path).unwrap();
    let moved_to: u16 = err
        .lines()
        .find_map(|l| {
            let rest = l.strip_prefix(&format!(
                "operator: port {base} (redis-1..redis-6) is taken: using "
            ))?;
            rest.strip_suffix(" instead")?.parse().ok()
        })
        .unwrap_or_else(|| panic!("the cluster's move is said: {err}"));
    assert_ne!(moved_to, base);

    let summary = lines.of_type("summary");
    assert_eq!(summary["ok"], true, "{summary:#}");
    let chapters = summary["chapters"].as_array().unwrap();
    assert_eq!(chapters.len(), 2, "{summary:#}");
    let c = &chapters[1];
    assert_eq!(c["title"], "a Redis primary killed", "{c:#}");
    assert_eq!(c["detected"], "failover_detected", "{c:#}");
    assert!(c["detected_after_ms"].as_u64().is_some(), "{c:#}");
    assert!(
        c["recovered_after_ms"].as_u64().is_some(),
        "the time until exact limiting resumed: {c:#}"
    );
    let opened: Vec<&str> = c["opened"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(
        opened
            .iter()
            .any(|o| o.starts_with("redis_healthy[127.0.0.1:")),
        "the dead instance is named: {opened:?}"
    );
    assert_eq!(c["load"]["errors"], 0, "{c:#}");
    assert!(
        lines
            .all_of_type("fault")
            .any(|l| l["report"]["fault"] == "kill-redis-primary 1")
    );

    let up = lines.of_type("stack_up");
    let components = up["components"].as_array().unwrap();
    assert_eq!(components.len(), 9, "{up:#}");
    for c in components {
        let pid = u32::try_from(c["pid"].as_u64().unwrap()).unwrap();
        assert!(
            !alive(pid),
            "{} (pid {pid}) survived the demo",
            c["component"]
        );
    }
    for port in (ClusterPorts { base: moved_to })
        .all()
        .into_iter()
        .chain(nodes)
    {
        assert!(!listening(port), "port {port} still listening");
    }
    drop(squatter);
}
