//! `operator monitor --subject tikv`: the real binary against the PD and Prometheus simulator.

use std::process::Output;
use std::time::Duration;

use operator_core::TicketStatus;
use operator_core::ticket::TicketFilter;
use operator_tikv::simulator::Simulator;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// Generous bound on one run of the binary.
const DEADLINE: Duration = Duration::from_secs(60);

/// `operator` with a clean environment (no OPERATOR_* from the developer's shell) and a
/// ticket database in `dir`.
fn operator(dir: &tempfile::TempDir) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_operator"));
    cmd.env_clear()
        .env("OPERATOR_LOG", "error")
        .arg("--db")
        .arg(dir.path().join("tickets.db"))
        .kill_on_drop(true);
    cmd
}

/// `monitor --subject tikv --once` against `sim`, plus `extra` arguments.
async fn once(sim: &Simulator, dir: &tempfile::TempDir, extra: &[&str]) -> Output {
    let mut cmd = operator(dir);
    cmd.args(["monitor", "--subject", "tikv", "--once"])
        .args(["--pd", &sim.pd_url(), "--prometheus", &sim.prometheus_url()])
        .args(extra);
    run(cmd).await
}

async fn run(mut cmd: Command) -> Output {
    tokio::time::timeout(DEADLINE, cmd.output())
        .await
        .expect("operator finishes")
        .expect("operator runs")
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// `invariant[entity] severity` of each reported violation, sorted.
fn violations(doc: &Value) -> Vec<String> {
    let mut v: Vec<String> = doc["violations"]
        .as_array()
        .expect("violations")
        .iter()
        .map(|v| {
            let entity = v["entity"]
                .as_str()
                .map(|e| format!("[{e}]"))
                .unwrap_or_default();
            format!(
                "{}{entity} {}",
                v["invariant"].as_str().unwrap_or_default(),
                v["severity"].as_str().unwrap_or_default()
            )
        })
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn once_json_reports_a_healthy_cluster() {
    let sim = Simulator::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = once(&sim, &dir, &["--json"]).await;
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let doc = json(&out);
    assert_eq!(doc["subject"], "tikv");
    assert_eq!(doc["healthy"], true);
    assert_eq!(doc["violations"], Value::Array(vec![]));
}

#[tokio::test]
async fn once_json_reports_the_simulated_cluster_state() {
    let sim = Simulator::start().await.unwrap();
    sim.set_store_state(4, "Disconnected");
    sim.set_available_fraction(5, 0.05);
    sim.set_p99(1, Some(Duration::from_millis(900)));
    sim.set_member_health("pd3", false);
    let dir = tempfile::tempdir().unwrap();

    let out = once(&sim, &dir, &["--json"]).await;
    assert_eq!(out.status.code(), Some(1), "violations exit 1: {out:?}");
    let doc = json(&out);
    assert_eq!(doc["healthy"], false);
    assert_eq!(
        violations(&doc),
        [
            "high_latency[1] warning",
            "low_disk_space[5] critical",
            "pd_unhealthy[pd3] warning",
            "store_down[4] warning",
        ]
    );
    let by_invariant = |name: &str| {
        doc["violations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["invariant"] == name)
            .cloned()
            .unwrap()
    };
    let latency = by_invariant("high_latency");
    assert_eq!(latency["evidence"]["status_address"], "tikv1:20180");
    assert_eq!(latency["evidence"]["grpc_p99_ms"], 900.0);
    assert!(latency["ticket"].is_i64(), "a ticket is opened: {latency}");
    let store_down = by_invariant("store_down");
    assert!(
        store_down["message"]
            .as_str()
            .unwrap()
            .starts_with("store 4 (tikv2:20160) is Disconnected")
    );
    let disk = by_invariant("low_disk_space");
    assert!(disk["evidence"]["available_ratio"].as_f64().unwrap() < 0.06);

    // The thresholds are flags: with p99 allowed up to 1 s, latency is fine.
    let out = once(&sim, &dir, &["--json", "--tikv-p99-warning", "1s"]).await;
    assert!(
        !violations(&json(&out))
            .iter()
            .any(|v| v.starts_with("high_latency"))
    );
}

#[tokio::test]
async fn once_text_reports_violations() {
    let sim = Simulator::start().await.unwrap();
    sim.set_store_state(5, "Down");
    let dir = tempfile::tempdir().unwrap();
    let out = once(&sim, &dir, &[]).await;
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("tikv at "), "{stdout}");
    assert!(stdout.contains("1 violation"), "{stdout}");
    assert!(
        stdout.contains("critical store_down[5]") && stdout.contains("is Down"),
        "{stdout}"
    );
}

#[tokio::test]
async fn unreachable_pd_exits_1_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = operator(&dir);
    cmd.args(["monitor", "--subject", "tikv", "--once"]).args([
        "--pd",
        "http://127.0.0.1:1",
        "--prometheus",
        "",
    ]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("subject_unreachable")
            && stdout.contains("cannot observe tikv: PD unreachable: http://127.0.0.1:1: "),
        "{stdout}"
    );
}

#[tokio::test]
async fn bad_flags_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    for (args, expected) in [
        (vec!["--pd", "pd1:2379"], "error: --pd: "),
        (vec!["--prometheus", "localhost"], "error: --prometheus: "),
        (vec!["--tikv-disk-critical", "30"], "error: --tikv-p99-*"),
    ] {
        let mut cmd = operator(&dir);
        cmd.args(["monitor", "--subject", "tikv", "--once"])
            .args(&args);
        let out = run(cmd).await;
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

#[tokio::test]
async fn environment_variables_are_fallbacks() {
    let sim = Simulator::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = operator(&dir);
    cmd.args(["monitor", "--once", "--json"])
        .env("OPERATOR_SUBJECT", "tikv")
        .env(
            "OPERATOR_PD_URL",
            format!("http://127.0.0.1:1,{}", sim.pd_url()),
        )
        .env("OPERATOR_PROMETHEUS_URL", sim.prometheus_url());
    let out = run(cmd).await;
    let doc = json(&out);
    assert_eq!(
        violations(&doc),
        ["pd_unhealthy[http://127.0.0.1:1] warning"],
        "the second endpoint answers; the first is reported"
    );
    assert_eq!(out.status.code(), Some(1));
}

#[tokio::test]
async fn continuous_monitor_opens_and_resolves_a_ticket() {
    let sim = Simulator::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = operator(&dir);
    cmd.args([
        "monitor",
        "--subject",
        "tikv",
        "--json",
        "--interval",
        "100ms",
    ])
    .args(["--keep-firing", "store_down=0s"])
    .args(["--pd", &sim.pd_url(), "--prometheus", &sim.prometheus_url()])
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().expect("operator starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut next_event = async || -> Value {
        let line = tokio::time::timeout(DEADLINE, lines.next_line())
            .await
            .expect("an event within the deadline")
            .expect("read stdout")
            .expect("operator still running");
        serde_json::from_str(&line).expect("one JSON event per line")
    };

    sim.set_store_state(4, "Disconnected");
    let opened = next_event().await;
    assert_eq!(opened["event"], "opened");
    assert_eq!(opened["invariant"], "store_down");
    assert_eq!(opened["entity"], "4");
    assert_eq!(opened["subject"], "tikv");

    sim.set_store_state(4, "Up");
    let resolved = next_event().await;
    assert_eq!(resolved["event"], "resolved");
    assert_eq!(resolved["ticket"], opened["ticket"]);
    child.kill().await.expect("stop operator");

    let store = operator_core::TicketStore::open(dir.path().join("tickets.db")).unwrap();
    let tickets = store.list(&TicketFilter::default()).unwrap();
    assert_eq!(tickets.len(), 1);
    assert_eq!(tickets[0].status, TicketStatus::Resolved);
    assert_eq!(tickets[0].entity.as_deref(), Some("4"));
}
