//! `operator monitor --otlp-endpoint`: each tick is a `tick` span with what it checked and
//! found, exported to a real OTLP receiver in process; `--once` flushes before it exits. The
//! subject is the lightest there is: TiKV's PD and Prometheus simulator, in process.

use std::process::Output;
use std::time::Duration;

use operator_tikv::simulator::Simulator;
use test_support::{OtlpReceiver, ReceivedSpan};
use tokio::process::Command;

/// Generous bound on one run of the binary.
const DEADLINE: Duration = Duration::from_secs(60);

/// `monitor --subject tikv --once` with a clean environment, exporting to `receiver`.
async fn once(receiver: &OtlpReceiver, pd: &str, prometheus: &str, extra: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_operator"));
    cmd.env_clear()
        .env("OPERATOR_LOG", "error")
        .arg("--db")
        .arg(dir.path().join("tickets.db"))
        .args(["monitor", "--subject", "tikv", "--once"])
        .args(["--pd", pd, "--prometheus", prometheus])
        .args(["--otlp-endpoint", &receiver.endpoint()])
        .args(extra)
        .kill_on_drop(true);
    tokio::time::timeout(DEADLINE, cmd.output())
        .await
        .expect("operator finishes")
        .expect("operator runs")
}

fn ticks(spans: &[ReceivedSpan]) -> Vec<&ReceivedSpan> {
    spans.iter().filter(|s| s.name == "tick").collect()
}

#[tokio::test]
async fn a_healthy_tick_is_exported_with_what_it_checked() {
    let sim = Simulator::start().await.unwrap();
    let receiver = OtlpReceiver::grpc();
    let out = once(&receiver, &sim.pd_url(), &sim.prometheus_url(), &[]).await;
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // `--once` exits right after its tick: the span is there because the exit flushed it.
    let spans = receiver.wait_for(Duration::from_secs(10), |s| !ticks(s).is_empty());
    let tick = ticks(&spans)[0].clone();
    assert_eq!(tick.service_name.as_deref(), Some("operator"));
    assert_eq!(tick.attr("subject"), Some("tikv"), "{tick:#?}");
    let checked: u32 = tick.attr("invariants_checked").unwrap().parse().unwrap();
    assert!(checked > 1, "{tick:#?}");
    assert_eq!(tick.attr("violations"), Some("0"), "{tick:#?}");
    assert_eq!(tick.attr("tickets_opened"), Some("0"), "{tick:#?}");
    assert!(
        tick.parent_span_id.is_empty(),
        "a tick is a root span: {tick:#?}"
    );
}

#[tokio::test]
async fn an_unreachable_subject_is_a_tick_with_one_violation_over_http_protobuf() {
    let receiver = OtlpReceiver::http();
    let out = once(
        &receiver,
        "http://127.0.0.1:1",
        "",
        &["--otlp-protocol", "http/protobuf"],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let spans = receiver.wait_for(Duration::from_secs(10), |s| !ticks(s).is_empty());
    let tick = ticks(&spans)[0].clone();
    assert_eq!(tick.attr("subject"), Some("tikv"), "{tick:#?}");
    assert_eq!(tick.attr("invariants_checked"), Some("1"), "{tick:#?}");
    assert_eq!(tick.attr("violations"), Some("1"), "{tick:#?}");
    assert!(tick.attr("tickets_opened").is_some(), "{tick:#?}");
}

#[tokio::test]
async fn a_bad_endpoint_is_a_usage_error_naming_the_flag() {
    let receiver = OtlpReceiver::grpc();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_operator"))
        .env_clear()
        .arg("--db")
        .arg(dir.path().join("tickets.db"))
        .args(["monitor", "--subject", "tikv", "--once"])
        .args(["--otlp-endpoint", "localhost:4317"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--otlp-endpoint"), "{stderr}");
    for ratio in ["1.5", "x"] {
        let out = once(
            &receiver,
            "http://127.0.0.1:1",
            "",
            &["--trace-sample-ratio", ratio],
        )
        .await;
        assert_eq!(out.status.code(), Some(2), "{ratio}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("--trace-sample-ratio"), "{ratio}: {stderr}");
    }
}
