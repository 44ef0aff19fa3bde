//! Envoy's rate-limit service over gRPC: a real tonic client (the generated client of
//! `envoy-types`, as Envoy's own stubs) against two real node processes on one real Redis.

use std::path::Path;
use std::time::{Duration, Instant};

use envoy_types::pb::envoy::extensions::common::ratelimit::v3::RateLimitDescriptor;
use envoy_types::pb::envoy::extensions::common::ratelimit::v3::rate_limit_descriptor::Entry;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_response::Code;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_service_client::RateLimitServiceClient;
use envoy_types::pb::envoy::service::ratelimit::v3::{RateLimitRequest, RateLimitResponse};
use test_support::node::Readiness;
use test_support::{NodeProcess, RedisServer, free_port};
use tonic::transport::Channel;

const YAML: &str = "\
domain: edge
descriptors:
  - key: user
    rate_limit: { unit: minute, requests_per_unit: 10 }
  - key: path
    value: /pay
    rate_limit: { unit: hour, requests_per_unit: 3 }
    descriptors:
      - key: user
        rate_limit: { unit: minute, requests_per_unit: 2 }
  - key: canary
    shadow_mode: true
    rate_limit: { unit: minute, requests_per_unit: 1 }
";

/// A node serving gRPC on a free port, with `--envoy-config file` and `extra` flags.
fn grpc_node(redis: &RedisServer, id: &str, file: &Path, extra: &[&str]) -> (NodeProcess, u16) {
    let port = free_port();
    let node = NodeProcess::builder(&redis.url(), id)
        .args(["--grpc-listen", &format!("127.0.0.1:{port}")])
        .args(["--envoy-config", file.to_str().unwrap()])
        .args(extra.iter().copied())
        .wait_for(Readiness::Ready)
        .start();
    (node, port)
}

async fn client(port: u16) -> RateLimitServiceClient<Channel> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match RateLimitServiceClient::connect(format!("http://127.0.0.1:{port}")).await {
            Ok(c) => return c,
            Err(e) if Instant::now() > deadline => panic!("grpc on {port}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

fn req(domain: &str, descriptors: &[&[(&str, &str)]], hits: u32) -> RateLimitRequest {
    RateLimitRequest {
        domain: domain.into(),
        descriptors: descriptors
            .iter()
            .map(|d| RateLimitDescriptor {
                entries: d
                    .iter()
                    .map(|(k, v)| Entry {
                        key: (*k).into(),
                        value: (*v).into(),
                    })
                    .collect(),
                ..RateLimitDescriptor::default()
            })
            .collect(),
        hits_addend: hits,
    }
}

async fn ask(c: &mut RateLimitServiceClient<Channel>, r: RateLimitRequest) -> RateLimitResponse {
    c.should_rate_limit(r).await.expect("a gRPC answer").into_inner()
}

fn write_config(dir: &Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("edge.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

const OK: i32 = Code::Ok as i32;
const OVER: i32 = Code::OverLimit as i32;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_exact_limits_and_answer_every_descriptor() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let file = write_config(dir.path(), YAML);
    let (_a, port_a) = grpc_node(&redis, "a", &file, &["--rls-response-headers"]);
    let (_b, port_b) = grpc_node(&redis, "b", &file, &["--rls-response-headers"]);
    let (mut a, mut b) = (client(port_a).await, client(port_b).await);

    // Exactly 10 per user per minute across both nodes.
    let mut allowed = 0;
    for i in 0..16 {
        let c = if i % 2 == 0 { &mut a } else { &mut b };
        let r = ask(c, req("edge", &[&[("user", "alice")]], 0)).await;
        if r.overall_code == OK {
            allowed += 1;
        } else {
            assert_eq!(r.overall_code, OVER);
        }
    }
    assert_eq!(allowed, 10);

    // Per-descriptor statuses, hits_addend, the RateLimit headers.
    let r = ask(&mut a, req("edge", &[&[("user", "bob")], &[("path", "/pay"), ("user", "bob")]], 2)).await;
    assert_eq!(r.overall_code, OK);
    let s = &r.statuses;
    assert_eq!(s.len(), 2);
    let limit = s[0].current_limit.as_ref().unwrap();
    assert_eq!((limit.requests_per_unit, limit.unit, s[0].limit_remaining), (10, 2, 8));
    assert_eq!(s[1].current_limit.as_ref().unwrap().requests_per_unit, 2);
    assert_eq!(s[1].limit_remaining, 0);
    let reset = s[0].duration_until_reset.unwrap();
    assert!(reset.seconds <= 60 && (reset.seconds > 0 || reset.nanos > 0), "{reset:?}");
    let headers: Vec<(String, String)> = r
        .response_headers_to_add
        .iter()
        .map(|h| (h.key.clone(), h.value.clone()))
        .collect();
    assert!(headers.contains(&("RateLimit-Limit".into(), "2".into())), "{headers:?}");
    assert!(headers.contains(&("RateLimit-Remaining".into(), "0".into())), "{headers:?}");
    // One over: the request is over, the other descriptor OK, nothing consumed from it.
    let r = ask(&mut b, req("edge", &[&[("user", "bob")], &[("path", "/pay"), ("user", "bob")]], 1)).await;
    assert_eq!(r.overall_code, OVER);
    assert_eq!((r.statuses[0].code, r.statuses[1].code), (OK, OVER));
    assert_eq!(r.statuses[0].limit_remaining, 8, "bob's user limit is untouched");

    // Unknown descriptors and domains: OK with no limit; domains keep their keys apart.
    for r in [
        req("edge", &[&[("nothing", "x")]], 0),
        req("edge", &[&[("path", "/pay"), ("user", "bob"), ("more", "x")]], 0),
        req("other", &[&[("user", "alice")]], 0),
    ] {
        let answer = ask(&mut a, r.clone()).await;
        assert_eq!(answer.overall_code, OK, "{r:?}");
        assert_eq!(answer.statuses[0].code, OK);
        assert!(answer.statuses[0].current_limit.is_none(), "{r:?}");
    }

    // Shadow mode: over its limit of 1, still OK.
    for _ in 0..3 {
        let r = ask(&mut b, req("edge", &[&[("canary", "c")]], 0)).await;
        assert_eq!(r.overall_code, OK);
    }
    let (_, metrics) = test_support::http::get(_b.port, "/metrics").unwrap();
    assert!(
        metrics.contains("ratelimiter_rls_shadow_mode{node=\"b\",domain=\"edge\",descriptor=\"canary\"} 2"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_invalid_argument_and_health_answers() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let file = write_config(dir.path(), YAML);
    let (node, port) = grpc_node(&redis, "a", &file, &[]);
    let mut c = client(port).await;
    for bad in [
        req("", &[&[("user", "a")]], 0),
        req("edge", &[], 0),
        req("edge", &[&[]], 0),
        req("edge", &[&[("", "v")]], 0),
    ] {
        let status = c.should_rate_limit(bad.clone()).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{bad:?}: {status}");
        assert!(!status.message().is_empty());
    }
    // Still serving after them.
    assert_eq!(ask(&mut c, req("edge", &[&[("user", "a")]], 0)).await.overall_code, OK);

    let channel = Channel::from_shared(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    for service in ["", "envoy.service.ratelimit.v3.RateLimitService"] {
        let r = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32, "{service:?}");
    }
    drop(node);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_applies_the_failure_mode_as_for_http() {
    let mut redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let file = write_config(dir.path(), YAML);
    let (open, port_open) = grpc_node(&redis, "open", &file, &["--failure-mode", "open"]);
    let (closed, port_closed) = grpc_node(&redis, "closed", &file, &["--failure-mode", "closed"]);
    let (local, port_local) = grpc_node(&redis, "local", &file, &["--failure-mode", "local"]);
    let (mut o, mut c, mut l) = (
        client(port_open).await,
        client(port_closed).await,
        client(port_local).await,
    );
    redis.kill();
    let user = || req("edge", &[&[("user", "zed")]], 0);
    for _ in 0..3 {
        assert_eq!(ask(&mut o, user()).await.overall_code, OK, "open allows");
        assert_eq!(ask(&mut c, user()).await.overall_code, OVER, "closed denies");
    }
    // Unlimited descriptors stay OK in every mode.
    assert_eq!(ask(&mut c, req("edge", &[&[("nothing", "x")]], 0)).await.overall_code, OK);
    // Local: decided in process at this node's share of 10 (one node Up: all 10).
    let mut allowed = 0;
    for _ in 0..15 {
        if ask(&mut l, user()).await.overall_code == OK {
            allowed += 1;
        }
    }
    assert!((1..=10).contains(&allowed), "local allowed {allowed}");
    // The same modes on HTTP: closed answers 503, open 200.
    let body = r#"{"key":"user:zed"}"#;
    let (status, _) = test_support::http::request(closed.port, "POST", "/v1/check", Some(body)).unwrap();
    assert_eq!(status, 503);
    let (status, _) = test_support::http::request(open.port, "POST", "/v1/check", Some(body)).unwrap();
    assert_eq!(status, 200);
    drop(local);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_file_applies_under_load_and_a_broken_one_keeps_the_limits() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let file = write_config(dir.path(), YAML);
    let (node, port) = grpc_node(&redis, "a", &file, &[]);
    let mut c = client(port).await;

    // Load in the background: every answer must be a gRPC answer.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let (mut c, stop) = (c.clone(), stop.clone());
        tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                c.should_rate_limit(req("edge", &[&[("user", &format!("load-{}", n % 50))]], 0))
                    .await
                    .expect("no gRPC error under reload");
                n += 1;
            }
            n
        })
    };
    let limit_of = |r: &RateLimitResponse| r.statuses[0].current_limit.as_ref().map(|l| l.requests_per_unit);
    let probe = || req("edge", &[&[("user", "probe")]], 0);
    assert_eq!(limit_of(&ask(&mut c, probe()).await), Some(10));

    std::fs::write(&file, YAML.replace("requests_per_unit: 10", "requests_per_unit: 42")).unwrap();
    let changed = Instant::now();
    let mut applied = None;
    while changed.elapsed() < Duration::from_secs(10) {
        if limit_of(&ask(&mut c, probe()).await) == Some(42) {
            applied = Some(changed.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let applied = applied.expect("the new limit applies");
    eprintln!("new limit applied {applied:?} after the file changed");

    // A broken file: the old limits stay, and /v1/node says why.
    std::fs::write(&file, "domain: edge\ndescriptors:\n  - key: user\n    rate_limit: { unit: minute, requests_per_unit: -1 }\n").unwrap();
    let said = test_support::wait_for(Duration::from_secs(5), || {
        let (_, body) = test_support::http::get(node.port, "/v1/node").unwrap();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["envoy_config"][0]["error"].as_str().is_some_and(|e| e.contains("line 4"))
    });
    assert!(said, "the error is reported in /v1/node");
    assert_eq!(limit_of(&ask(&mut c, probe()).await), Some(42), "last good limits kept");

    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let served = load.await.unwrap();
    assert!(served > 0);
}
