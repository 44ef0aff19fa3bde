//! OpenTelemetry tracing of decisions on the real parts: a real `redis-server`, a real node
//! exporting to an in-process OTLP receiver (gRPC or HTTP/protobuf), configured by flags, by the
//! node's variables or by the standard `OTEL_*` ones. Spans join the caller's trace and carry
//! the decision; a collector that is down or hung never delays a decision; the spans still
//! queued at SIGTERM are exported before the node exits.

mod support;

use std::time::{Duration, Instant};

use ratelimiter_schema::fingerprint_identifier;
use support::{NodeApi, NodeProcess, client, policies_file};
use test_support::node::Readiness;
use test_support::{OtlpReceiver, ReceivedSpan, RedisServer, free_port};

const POLICIES: &str = r#"
[policies.default]
windows = [{ limit = 2, window_ms = 60000 }]
"#;

/// The caller's trace: a W3C `traceparent` with the sampled flag.
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN: &str = "00f067aa0ba902b7";

/// Long enough for any export to arrive, however loaded the machine.
const ARRIVAL: Duration = Duration::from_secs(15);

fn start_node(
    redis: &RedisServer,
    dir: &tempfile::TempDir,
    id: &str,
    flags: &[&str],
    envs: &[(&str, &str)],
) -> NodeProcess {
    let file = policies_file(dir, POLICIES);
    let mut builder = NodeProcess::builder(&redis.url(), id)
        .args(["--policies", file.to_str().unwrap()])
        .args(flags.iter().copied())
        .wait_for(Readiness::Ready);
    for (k, v) in envs {
        builder = builder.env(*k, *v);
    }
    builder.start()
}

async fn check_with_parent(node: &NodeProcess, key: &str) -> u16 {
    client()
        .post(node.url_for("/v1/check"))
        .header("traceparent", format!("00-{TRACE_ID}-{PARENT_SPAN}-01"))
        .json(&serde_json::json!({ "key": key }))
        .send()
        .await
        .expect("check request")
        .status()
        .as_u16()
}

fn decisions(spans: &[ReceivedSpan]) -> Vec<&ReceivedSpan> {
    spans.iter().filter(|s| s.name == "decide").collect()
}

#[tokio::test]
async fn decision_spans_join_the_callers_trace_with_the_decision() {
    let receiver = OtlpReceiver::grpc();
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let endpoint = receiver.endpoint();
    let node = start_node(
        &redis,
        &dir,
        "traced",
        &["--otlp-endpoint", &endpoint, "--trace-sample-ratio", "1.0"],
        &[],
    );
    // Two allowed, the third denied (2 per minute), all in the caller's trace.
    let statuses = [
        check_with_parent(&node, "user:alice").await,
        check_with_parent(&node, "user:alice").await,
        check_with_parent(&node, "user:alice").await,
    ];
    assert_eq!(statuses, [200, 200, 429]);
    // One more without a traceparent: a root span of its own trace.
    assert_eq!(node.check(&client(), "user:bob").await.0, 200);

    let spans = receiver.wait_for(ARRIVAL, |s| decisions(s).len() >= 4);
    let spans = decisions(&spans);
    assert_eq!(spans.len(), 4, "{spans:#?}");
    let fingerprint = fingerprint_identifier(None, "user:alice");
    let (child, root): (Vec<&ReceivedSpan>, Vec<&ReceivedSpan>) =
        spans.iter().copied().partition(|s| s.trace_id == TRACE_ID);
    assert_eq!(child.len(), 3, "{spans:#?}");
    for s in &child {
        assert_eq!(s.parent_span_id, PARENT_SPAN, "{s:#?}");
        assert_eq!(s.service_name.as_deref(), Some("ratelimiter-node"));
        assert_eq!(s.attr("node"), Some("traced"));
        assert_eq!(s.attr("policy"), Some("default"));
        assert_eq!(s.attr("window_ms"), Some("60000"));
        assert_eq!(s.attr("window"), Some("1m"));
        assert_eq!(s.attr("cache_hit"), Some("false"));
        assert_eq!(s.attr("key_fingerprint"), Some(fingerprint.as_str()));
        assert!(s.attr("failure_mode").is_none(), "decided by Redis: {s:#?}");
        let redis_us: u64 = s.attr("redis_time_us").unwrap().parse().unwrap();
        assert!(redis_us > 0, "{s:#?}");
        assert!(s.attr("redis_now_ms").is_some(), "{s:#?}");
        // The key never appears in clear.
        assert!(
            s.attributes.values().all(|v| !v.contains("alice")),
            "{s:#?}"
        );
    }
    let mut allowed: Vec<&str> = child.iter().map(|s| s.attr("allowed").unwrap()).collect();
    allowed.sort_unstable();
    assert_eq!(allowed, ["false", "true", "true"]);
    assert_eq!(root.len(), 1);
    assert!(root[0].parent_span_id.is_empty(), "{:#?}", root[0]);
    assert_eq!(
        root[0].attr("key_fingerprint"),
        Some(fingerprint_identifier(None, "user:bob").as_str())
    );
}

#[tokio::test]
async fn a_decision_of_the_near_cache_is_a_cache_hit_without_redis_time() {
    let receiver = OtlpReceiver::grpc();
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let endpoint = receiver.endpoint();
    let node = start_node(
        &redis,
        &dir,
        "cached",
        &[
            "--near-cache",
            "--otlp-endpoint",
            &endpoint,
            "--trace-sample-ratio",
            "1.0",
        ],
        &[],
    );
    // 2 per minute: two admitted by Redis, the third denied by Redis (and cached), the fourth
    // denied from the cache.
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(check_with_parent(&node, "user:dave").await);
    }
    assert_eq!(statuses, [200, 200, 429, 429]);
    let spans = receiver.wait_for(ARRIVAL, |s| decisions(s).len() >= 4);
    let spans = decisions(&spans);
    let hits: Vec<&&ReceivedSpan> = spans
        .iter()
        .filter(|s| s.attr("cache_hit") == Some("true"))
        .collect();
    assert_eq!(hits.len(), 1, "{spans:#?}");
    let hit = hits[0];
    assert_eq!(hit.attr("allowed"), Some("false"), "{hit:#?}");
    assert!(
        hit.attr("redis_time_us").is_none(),
        "no Redis call: {hit:#?}"
    );
    assert!(hit.attr("retry_after_ms").is_some(), "{hit:#?}");
}

#[tokio::test]
async fn a_degraded_decision_names_its_failure_mode() {
    let receiver = OtlpReceiver::grpc();
    let mut redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let endpoint = receiver.endpoint();
    // The node's own variables instead of the flags.
    let node = start_node(
        &redis,
        &dir,
        "degraded",
        &["--failure-mode", "open"],
        &[
            ("RATELIMITER_OTLP_ENDPOINT", &endpoint),
            ("RATELIMITER_TRACE_SAMPLE_RATIO", "1"),
        ],
    );
    redis.kill();
    assert_eq!(check_with_parent(&node, "user:carol").await, 200);
    let spans = receiver.wait_for(ARRIVAL, |s| !decisions(s).is_empty());
    let span = decisions(&spans)[0].clone();
    assert_eq!(span.trace_id, TRACE_ID);
    assert_eq!(span.attr("failure_mode"), Some("open"), "{span:#?}");
    assert_eq!(span.attr("allowed"), Some("true"));
    assert!(span.attr("redis_now_ms").is_none(), "{span:#?}");
}

#[tokio::test]
async fn http_protobuf_spans_still_queued_at_sigterm_are_flushed() {
    let receiver = OtlpReceiver::http();
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let endpoint = receiver.endpoint();
    // The standard variables (endpoint, protocol, batch interval); a batch interval of a
    // minute: only the shutdown flush can export within the test.
    let mut node = start_node(
        &redis,
        &dir,
        "flushed",
        &["--trace-sample-ratio", "1"],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_BSP_SCHEDULE_DELAY", "60000"),
        ],
    );
    for _ in 0..2 {
        assert_eq!(check_with_parent(&node, "user:dave").await, 200);
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        decisions(&receiver.spans()).is_empty(),
        "exported before shutdown: {:#?}",
        receiver.spans()
    );
    let status = node.terminate().expect("the node was running");
    assert!(status.success(), "{status:?}");
    let spans = receiver.wait_for(ARRIVAL, |s| decisions(s).len() >= 2);
    assert!(decisions(&spans).iter().all(|s| s.trace_id == TRACE_ID));
}

/// A collector that refuses connections, and one that accepts them and never answers: every
/// decision still answers at once (each well under the export timeout of 5 s that a blocking
/// export would wait), and the node still stops cleanly.
#[tokio::test]
async fn a_collector_down_or_hung_never_delays_a_decision() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let closed = format!("http://127.0.0.1:{}", free_port());
    // Accepts TCP connections (the kernel's backlog) and never reads or answers.
    let hung = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hung_url = format!("http://127.0.0.1:{}", hung.local_addr().unwrap().port());
    for (name, endpoint) in [("closed", &closed), ("hung", &hung_url)] {
        let mut node = start_node(
            &redis,
            &dir,
            name,
            &["--otlp-endpoint", endpoint, "--trace-sample-ratio", "1"],
            &[("OTEL_BSP_SCHEDULE_DELAY", "50")],
        );
        let client = client();
        let mut statuses = Vec::new();
        for i in 0..100 {
            let start = Instant::now();
            statuses.push(
                node.check(&client, &format!("user:{name}-{}", i % 50))
                    .await
                    .0,
            );
            assert!(
                start.elapsed() < Duration::from_secs(1),
                "{name}: decision {i} took {:?}",
                start.elapsed()
            );
        }
        assert!(statuses.iter().all(|s| *s == 200), "{name}: {statuses:?}");
        let start = Instant::now();
        let status = node.terminate().expect("running");
        assert!(status.success(), "{name}: {status:?}");
        // Shutdown waits for the last export at most its timeout (5 s) and a second.
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{name}: shutdown took {:?}",
            start.elapsed()
        );
    }
}

/// Envoy's `ShouldRateLimit` over gRPC: one span per call, child of the `traceparent`
/// metadata, with the domain, the policies that applied and the overall answer, and no
/// descriptor value.
#[tokio::test]
async fn rate_limit_service_calls_are_spans_of_the_callers_trace() {
    use envoy_types::pb::envoy::extensions::common::ratelimit::v3::RateLimitDescriptor;
    use envoy_types::pb::envoy::extensions::common::ratelimit::v3::rate_limit_descriptor::Entry;
    use envoy_types::pb::envoy::service::ratelimit::v3::RateLimitRequest;
    use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_service_client::RateLimitServiceClient;

    let receiver = OtlpReceiver::grpc();
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let yaml = dir.path().join("edge.yaml");
    std::fs::write(
        &yaml,
        "domain: edge\ndescriptors:\n  - key: user\n    rate_limit: { unit: minute, requests_per_unit: 1 }\n",
    )
    .unwrap();
    let grpc_port = free_port();
    let (endpoint, grpc) = (receiver.endpoint(), format!("127.0.0.1:{grpc_port}"));
    let _node = start_node(
        &redis,
        &dir,
        "rls",
        &[
            "--otlp-endpoint",
            &endpoint,
            "--trace-sample-ratio",
            "1",
            "--grpc-listen",
            &grpc,
            "--envoy-config",
            yaml.to_str().unwrap(),
        ],
        &[],
    );
    let mut client = RateLimitServiceClient::connect(format!("http://{grpc}"))
        .await
        .expect("grpc connects");
    for _ in 0..2 {
        let mut request = tonic::Request::new(RateLimitRequest {
            domain: "edge".into(),
            descriptors: vec![RateLimitDescriptor {
                entries: vec![Entry {
                    key: "user".into(),
                    value: "erin".into(),
                }],
                ..RateLimitDescriptor::default()
            }],
            hits_addend: 1,
        });
        request.metadata_mut().insert(
            "traceparent",
            format!("00-{TRACE_ID}-{PARENT_SPAN}-01").parse().unwrap(),
        );
        client.should_rate_limit(request).await.expect("an answer");
    }
    let spans = receiver.wait_for(ARRIVAL, |s| {
        s.iter().filter(|s| s.name == "should_rate_limit").count() >= 2
    });
    let mut allowed = Vec::new();
    for s in spans.iter().filter(|s| s.name == "should_rate_limit") {
        assert_eq!(s.trace_id, TRACE_ID, "{s:#?}");
        assert_eq!(s.parent_span_id, PARENT_SPAN, "{s:#?}");
        assert_eq!(s.attr("domain"), Some("edge"), "{s:#?}");
        assert_eq!(s.attr("descriptors"), Some("1"), "{s:#?}");
        assert!(s.attr("policies").unwrap().contains("edge"), "{s:#?}");
        assert!(s.attributes.values().all(|v| !v.contains("erin")), "{s:#?}");
        allowed.push(s.attr("allowed").unwrap().to_owned());
    }
    allowed.sort();
    assert_eq!(allowed, ["false", "true"]);
}

#[test]
fn bad_tracing_flags_are_usage_errors_naming_the_flag() {
    for (args, flag) in [
        (&["--trace-sample-ratio", "2"][..], "--trace-sample-ratio"),
        (
            &["--trace-sample-ratio", "-0.5"][..],
            "--trace-sample-ratio",
        ),
        (&["--otlp-protocol", "http/json"][..], "--otlp-protocol"),
        (
            &["--otlp-endpoint", "localhost:4317"][..],
            "--otlp-endpoint",
        ),
    ] {
        let out = std::process::Command::new(test_support::workspace_bin("ratelimiter-node"))
            .env_clear()
            .args(["--listen", &format!("127.0.0.1:{}", free_port())])
            .args(args)
            .output()
            .expect("run ratelimiter-node");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(flag), "{args:?}: {stderr}");
    }
}
