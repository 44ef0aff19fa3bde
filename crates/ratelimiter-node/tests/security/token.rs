//! The admin token on every management read; decision paths open; brute force refused.

use test_support::RedisServer;
use test_support::node::Readiness;

use super::support::NodeProcess;
use super::{client_from, get};

const TOKEN: &str = "t0ken-for-tests";

/// Every management read the node serves.
const READS: &[&str] = &[
    "/v1/node",
    "/v1/nodes",
    "/v1/policies",
    "/v1/policies/default",
    "/v1/counters",
    "/v1/counters?prefix=user:",
];

fn node_with_token(redis: &RedisServer) -> NodeProcess {
    NodeProcess::builder(&redis.url(), "a")
        .env("RATELIMITER_ADMIN_TOKEN", TOKEN)
        .wait_for(Readiness::Ready)
        .start()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_v1_read_needs_the_token_and_decisions_stay_open() {
    let redis = RedisServer::start();
    let node = node_with_token(&redis);
    let c = client_from("127.0.0.1");
    for path in READS {
        let r = c.get(node.url_for(path)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 401, "{path} without a token");
        let challenge = r
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned());
        assert!(
            challenge
                .as_deref()
                .is_some_and(|v| v.starts_with("Bearer")),
            "{path}: {challenge:?}"
        );
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"], "unauthorized", "{path}: {body}");
        let bearer = format!("Bearer {TOKEN}");
        let (status, _) = get(&c, &node.url_for(path), &[("authorization", &bearer)]).await;
        assert_eq!(status, 200, "{path} with the token");
    }
    // Decision paths, health, readiness and metrics need no token.
    let check = c
        .post(node.url_for("/v1/check"))
        .json(&serde_json::json!({"key": "user:1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(check.status().as_u16(), 200);
    for path in ["/api/request", "/healthz", "/readyz"] {
        assert_eq!(get(&c, &node.url_for(path), &[]).await.0, 200, "{path}");
    }
    let metrics = c.get(node.url_for("/metrics")).send().await.unwrap();
    assert_eq!(metrics.status().as_u16(), 200);
    let text = metrics.text().await.unwrap();
    let failures = metric(&text, "ratelimiter_auth_failures_total");
    assert_eq!(failures, Some(READS.len() as u64), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_wrong_tokens_get_the_address_refused_for_a_while() {
    let redis = RedisServer::start();
    let node = node_with_token(&redis);
    let (guesser, other) = (client_from("127.0.0.1"), client_from("127.0.0.2"));
    let url = node.url_for("/v1/policies");
    for i in 0..10 {
        let wrong = format!("Bearer guess-{i}");
        let (status, _) = get(&guesser, &url, &[("authorization", &wrong)]).await;
        assert_eq!(status, 401, "guess {i}");
    }
    // Now even the right token is refused from that address...
    let right = format!("Bearer {TOKEN}");
    let r = guesser
        .get(&url)
        .header("authorization", &right)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "too_many_auth_failures", "{body}");
    // ... while another address, and the guesser's decisions, are served.
    assert_eq!(get(&other, &url, &[("authorization", &right)]).await.0, 200);
    assert_eq!(
        get(&guesser, &node.url_for("/api/request"), &[]).await.0,
        200
    );
    let text = guesser
        .get(node.url_for("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(metric(&text, "ratelimiter_auth_failures_total"), Some(10));
    assert_eq!(metric(&text, "ratelimiter_auth_throttled_total"), Some(1));
    assert_eq!(metric(&text, "ratelimiter_auth_blocked_addresses"), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_management_reads_stay_open() {
    let redis = RedisServer::start();
    let node = NodeProcess::builder(&redis.url(), "a")
        .wait_for(Readiness::Ready)
        .start();
    let c = client_from("127.0.0.1");
    for path in READS {
        assert_eq!(get(&c, &node.url_for(path), &[]).await.0, 200, "{path}");
    }
}

/// The value of the one sample of `name` in Prometheus `text`.
fn metric(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find(|l| l.starts_with(&format!("{name}{{")))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}
