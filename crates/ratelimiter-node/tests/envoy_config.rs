//! envoyproxy/ratelimit YAML configuration files: the descriptor engine in process on a real
//! Redis (the library API the tower layer uses), then real node processes: reload under load,
//! a broken file keeping the last good limits and saying why, and the file owning its policies.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ratelimiter_node::rls::{Descriptor, RlsCode, RlsRequest};
use ratelimiter_node::{Config, Node};
use test_support::{NodeProcess, RedisServer};

const YAML: &str = "\
domain: shop
descriptors:
  - key: user
    rate_limit: { unit: minute, requests_per_unit: 5 }
  - key: path
    value: /checkout
    rate_limit: { unit: minute, requests_per_unit: 2 }
  - key: shadowed
    shadow_mode: true
    rate_limit: { unit: minute, requests_per_unit: 1 }
  - key: free
    rate_limit: { unlimited: true }
";

fn request(domain: &str, descriptors: &[&[(&str, &str)]], hits: u64) -> RlsRequest {
    RlsRequest {
        domain: domain.into(),
        descriptors: descriptors
            .iter()
            .map(|d| Descriptor::new(d.iter().copied()))
            .collect(),
        hits_addend: hits,
    }
}

async fn node_with(redis: &RedisServer, yaml_path: &Path) -> Arc<Node> {
    let node = Node::new(Config {
        redis_url: redis.url(),
        node_id: "inproc".into(),
        redis_timeout: Duration::from_millis(500),
        envoy_config: vec![yaml_path.to_owned()],
        ..Config::default()
    })
    .unwrap();
    node.sync_policies().await.unwrap();
    node.load_envoy_files();
    node.sync_rls_policies().await.unwrap();
    node
}

fn codes(answer: &ratelimiter_node::rls::RlsAnswer) -> Vec<RlsCode> {
    answer.statuses.iter().map(|s| s.code).collect()
}

#[tokio::test]
async fn in_process_decisions_follow_the_file_exactly() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shop.yaml");
    std::fs::write(&path, YAML).unwrap();
    let node = node_with(&redis, &path).await;

    // Exactly 5 per user, each user apart.
    for i in 0..5 {
        let a = node
            .should_rate_limit(&request("shop", &[&[("user", "alice")]], 0))
            .await
            .unwrap();
        assert_eq!(a.overall, RlsCode::Ok, "request {i}");
        assert_eq!(a.statuses[0].remaining, 4 - i);
        assert_eq!(a.statuses[0].limit.unwrap().requests_per_unit, 5);
    }
    let a = node
        .should_rate_limit(&request("shop", &[&[("user", "alice")]], 0))
        .await
        .unwrap();
    assert_eq!(a.overall, RlsCode::OverLimit);
    assert!(a.statuses[0].reset_after_ms > 0 && a.statuses[0].reset_after_ms <= 60_000);
    let b = node
        .should_rate_limit(&request("shop", &[&[("user", "bob")]], 3))
        .await
        .unwrap();
    assert_eq!(
        (b.overall, b.statuses[0].remaining),
        (RlsCode::Ok, 2),
        "hits_addend 3"
    );

    // Several descriptors: one over its limit denies the request and consumes nothing.
    let both = request("shop", &[&[("user", "carol")], &[("path", "/checkout")]], 2);
    let a = node.should_rate_limit(&both).await.unwrap();
    assert_eq!(codes(&a), vec![RlsCode::Ok, RlsCode::Ok]);
    let a = node.should_rate_limit(&both).await.unwrap();
    assert_eq!(a.overall, RlsCode::OverLimit);
    assert_eq!(codes(&a), vec![RlsCode::Ok, RlsCode::OverLimit]);
    let carol = node
        .should_rate_limit(&request("shop", &[&[("user", "carol")]], 3))
        .await
        .unwrap();
    assert_eq!(
        (carol.overall, carol.statuses[0].remaining),
        (RlsCode::Ok, 0),
        "the denied request consumed nothing of carol's 5"
    );

    // Unknown descriptors, unlimited ones and unknown domains are OK with no limit.
    for req in [
        request("shop", &[&[("nothing", "x")]], 0),
        request("shop", &[&[("path", "/other")]], 0),
        request("shop", &[&[("user", "alice"), ("extra", "x")]], 0),
        request("shop", &[&[("free", "x")]], 1_000),
        request("other-domain", &[&[("user", "alice")]], 0),
    ] {
        let a = node.should_rate_limit(&req).await.unwrap();
        assert_eq!(a.overall, RlsCode::Ok, "{req:?}");
        assert!(
            a.statuses[0].limit.is_none_or(|l| l.unlimited),
            "{req:?}: {a:?}"
        );
    }

    // Shadow mode: over the limit, still OK, and counted as such.
    for _ in 0..3 {
        let a = node
            .should_rate_limit(&request("shop", &[&[("shadowed", "s")]], 0))
            .await
            .unwrap();
        assert_eq!(a.overall, RlsCode::Ok);
    }
    let text = node.metrics().render("inproc", 0, 1);
    assert!(
        text.contains(
            "ratelimiter_rls_shadow_mode{node=\"inproc\",domain=\"shop\",descriptor=\"shadowed\"} 2"
        ),
        "{text}"
    );
    assert!(text.contains(
        "ratelimiter_rls_over_limit{node=\"inproc\",domain=\"shop\",descriptor=\"user\"} 1"
    ));

    // Bad requests are refused, never decided.
    for bad in [
        request("", &[&[("user", "a")]], 0),
        request("shop", &[], 0),
        request("shop", &[&[]], 0),
        request("shop", &[&[("", "a")]], 0),
    ] {
        assert!(node.should_rate_limit(&bad).await.is_err(), "{bad:?}");
    }
}

#[tokio::test]
async fn policies_land_in_redis_with_a_ttl_and_the_same_content_writes_nothing() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shop.yaml");
    std::fs::write(&path, YAML).unwrap();
    let a = node_with(&redis, &path).await;
    let version = a.policies().version;
    let names: Vec<String> = a
        .policies()
        .set
        .sorted()
        .iter()
        .map(|p| p.name.clone())
        .filter(|n| n.starts_with("rls-"))
        .collect();
    assert_eq!(names.len(), 3, "user, path_/checkout, shadowed: {names:?}");
    let ttl: i64 = redis
        .cmd(&[
            "PTTL",
            &ratelimiter_schema::keys::policies_key("ratelimit:"),
        ])
        .trim_start_matches(':')
        .parse()
        .unwrap();
    assert!(ttl > 0, "the policies hash has a TTL: {ttl}");

    // A second node loading the same content: same digest, no version bump.
    let b = node_with(&redis, &path).await;
    assert_eq!(b.policies().version, version);
    assert_eq!(b.policies().digest, a.policies().digest);
    assert_eq!(
        a.rls().files()[0].digest,
        b.rls().files()[0].digest,
        "the file's digest"
    );

    // Counter keys carry no value in clear, and have a TTL.
    a.should_rate_limit(&request("shop", &[&[("user", "secret-alice")]], 0))
        .await
        .unwrap();
    let mut conn = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("ratelimit:c:*")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(
        !keys[0].contains("alice") && keys[0].contains("rls:rls-"),
        "{keys:?}"
    );
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&keys[0])
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(ttl > 0);

    // A changed file replaces the domain's policies in one version bump.
    std::fs::write(
        &path,
        YAML.replace("requests_per_unit: 5", "requests_per_unit: 7"),
    )
    .unwrap();
    a.load_envoy_files();
    a.sync_rls_policies().await.unwrap();
    assert_eq!(a.policies().version, version + 1);
    let user = a
        .policies()
        .set
        .sorted()
        .into_iter()
        .find(|p| p.name.contains("-user-"))
        .cloned()
        .unwrap();
    assert_eq!(user.windows[0].limit, 7);
}

#[tokio::test]
async fn a_broken_edit_keeps_the_last_good_content_and_names_the_line() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shop.yaml");
    std::fs::write(&path, YAML).unwrap();
    let node = node_with(&redis, &path).await;
    std::fs::write(&path, YAML.replace("unit: minute", "unit: fortnight")).unwrap();
    node.load_envoy_files();
    let status = node.rls().files().remove(0);
    let error = status.error.expect("the error is kept");
    assert!(
        error.contains("line 4") && error.contains("fortnight"),
        "{error}"
    );
    assert_eq!(status.domain.as_deref(), Some("shop"));
    let a = node
        .should_rate_limit(&request("shop", &[&[("user", "u")]], 5))
        .await
        .unwrap();
    assert_eq!(
        a.statuses[0].limit.unwrap().requests_per_unit,
        5,
        "old limits in force"
    );
}

/// The node's `/v1/node`, as JSON.
fn node_info(node: &NodeProcess) -> serde_json::Value {
    let (status, body) = test_support::http::get(node.port, "/v1/node").unwrap();
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn a_node_reports_a_broken_file_and_refuses_writes_to_its_policies() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shop.yaml");
    std::fs::write(&path, YAML).unwrap();
    let file = path.to_str().unwrap();
    let node = NodeProcess::builder(&redis.url(), "a")
        .args(["--envoy-config", file])
        .wait_for(test_support::node::Readiness::Ready)
        .start();
    let info = node_info(&node);
    let files = &info["envoy_config"];
    assert_eq!(files[0]["domain"], "shop", "{info}");
    assert!(files[0]["error"].is_null(), "{info}");

    let (status, body) = test_support::http::get(node.port, "/v1/policies").unwrap();
    assert_eq!(status, 200);
    let policies: serde_json::Value = serde_json::from_str(&body).unwrap();
    let name = policies["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .find(|n| n.starts_with("rls-"))
        .expect("the file's policies are listed");
    for method in ["PUT", "DELETE"] {
        let (status, body) = test_support::http::request(
            node.port,
            method,
            &format!("/v1/policies/{name}"),
            Some(r#"{"match":"x:*","windows":[{"limit":1,"window_ms":1000}]}"#),
        )
        .unwrap();
        assert_eq!(status, 409, "{method}: {body}");
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"], "policy_owned_by_file");
    }

    std::fs::write(
        &path,
        "domain: shop\ndescriptors:\n  - key: user\n    rate_limit: { unit: week }\n",
    )
    .unwrap();
    let seen = test_support::wait_for(Duration::from_secs(5), || {
        node_info(&node)["envoy_config"][0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("line 4"))
    });
    assert!(seen, "{}", node_info(&node));
    assert_eq!(node_info(&node)["envoy_config"][0]["domain"], "shop");
}

#[test]
fn a_bad_file_at_start_is_a_usage_error_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, "domain: d\ndescriptors:\n  - key: k\n    bogus: 1\n").unwrap();
    let out = std::process::Command::new(test_support::workspace_bin("ratelimiter-node"))
        .args(["--envoy-config", path.to_str().unwrap()])
        .env_remove("RATELIMITER_ENVOY_CONFIG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--envoy-config") && stderr.contains("line 4") && stderr.contains("bogus"),
        "{stderr}"
    );
}

#[tokio::test]
async fn per_descriptor_mode_checks_each_descriptor_alone_and_detailed_metrics_hide_values() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shop.yaml");
    std::fs::write(
        &path,
        YAML.replace(
            "  - key: user\n",
            "  - key: user\n    detailed_metric: true\n",
        ),
    )
    .unwrap();
    let node = Node::new(Config {
        redis_url: redis.url(),
        node_id: "cluster-like".into(),
        redis_timeout: Duration::from_millis(500),
        envoy_config: vec![path.clone()],
        rls_per_descriptor: true,
        ..Config::default()
    })
    .unwrap();
    node.sync_policies().await.unwrap();
    node.load_envoy_files();
    node.sync_rls_policies().await.unwrap();

    let both = request(
        "shop",
        &[&[("user", "dave-secret")], &[("path", "/checkout")]],
        2,
    );
    assert_eq!(
        node.should_rate_limit(&both).await.unwrap().overall,
        RlsCode::Ok
    );
    let a = node.should_rate_limit(&both).await.unwrap();
    assert_eq!(codes(&a), vec![RlsCode::Ok, RlsCode::OverLimit]);
    // Unlike the atomic path, the user descriptor was consumed by the denied request: 5 - 2 - 2.
    let dave = node
        .should_rate_limit(&request("shop", &[&[("user", "dave-secret")]], 1))
        .await
        .unwrap();
    assert_eq!(dave.statuses[0].remaining, 0);

    let text = node.metrics().render("n", 0, 1);
    assert!(
        !text.contains("dave"),
        "no value in clear on /metrics:\n{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("ratelimiter_rls_total_hits{")
                && l.contains("descriptor=\"user:fp-")),
        "{text}"
    );
}
