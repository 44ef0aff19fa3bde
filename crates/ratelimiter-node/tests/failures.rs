//! Redis failures: each failure mode while Redis is down, a node started without Redis, and
//! recovery (re-seeded policies, exact limiting again) when Redis comes back empty.

mod support;

use std::time::{Duration, Instant};

use support::{NodeApi, NodeProcess, client, policies_file, redis_conn, wait_until};
use test_support::RedisServer;

const POLICIES: &str = r#"
[policies.default]
windows = [{ limit = 10, window_ms = 60000 }]
"#;

async fn start(mode: &str) -> (RedisServer, NodeProcess, tempfile::TempDir) {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let file = policies_file(&dir, POLICIES);
    let node = NodeProcess::start(
        &redis.url(),
        &format!("node-{mode}"),
        &["--policies", file.to_str().unwrap(), "--failure-mode", mode],
    );
    (redis, node, dir)
}

/// Checks `n` times, each answer bounded; returns the statuses and bodies.
async fn checks(node: &NodeProcess, key: &str, n: usize) -> Vec<(u16, serde_json::Value)> {
    let client = client();
    let mut out = Vec::new();
    for _ in 0..n {
        let start = Instant::now();
        let answer = node.check(&client, key).await;
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "a decision took {:?} while redis is down",
            start.elapsed()
        );
        out.push(answer);
    }
    out
}

async fn assert_recovers_exactly(redis: &mut RedisServer, node: &NodeProcess) {
    let client = client();
    let old_version = node.get_json(&client, "/v1/node").await.1["policy_version"]
        .as_u64()
        .unwrap();
    redis.restart();
    let ready = wait_until(Duration::from_secs(15), || {
        let c = client.clone();
        let url = node.url_for("/readyz");
        async move { c.get(url).send().await.is_ok_and(|r| r.status() == 200) }
    })
    .await;
    assert!(ready, "node not ready after redis came back");
    let mut conn = redis_conn(&redis.url());
    let version: Option<u64> = redis::cmd("HGET")
        .arg("ratelimit:{shared}:policies")
        .arg("version")
        .query(&mut conn)
        .unwrap();
    let version = version.expect("policies re-seeded into the empty redis");
    assert!(
        version > old_version,
        "the version only increases, also across a restart: {old_version} then {version}"
    );
    // Exact shared limiting again (after the first decision through redis).
    let ok = wait_until(Duration::from_secs(5), || async {
        node.check(&client, "probe")
            .await
            .1
            .get("degraded")
            .is_none()
    })
    .await;
    assert!(ok, "decisions still degraded after recovery");
    let answers = checks(node, "after", 15).await;
    let allowed = answers.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(allowed, 10, "{answers:?}");
    assert!(answers.iter().all(|(_, b)| b.get("degraded").is_none()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_mode_allows_while_redis_is_down_and_recovers() {
    let (mut redis, node, _dir) = start("open").await;
    assert_eq!(
        checks(&node, "k", 3)
            .await
            .iter()
            .filter(|(s, _)| *s == 200)
            .count(),
        3
    );
    redis.kill();
    let answers = checks(&node, "k", 20).await;
    assert!(
        answers
            .iter()
            .all(|(s, b)| *s == 200 && b["degraded"] == "open"),
        "{answers:?}"
    );
    let client = client();
    let (status, body) = node.get_json(&client, "/readyz").await;
    assert_eq!((status, body["error"].as_str()), (503, Some("not_ready")));
    let (_, info) = node.get_json(&client, "/v1/node").await;
    assert_eq!(info["failure_decisions"]["open"], 20);
    assert_eq!(info["redis_ok"], false);
    assert_recovers_exactly(&mut redis, &node).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_mode_denies_with_503_while_redis_is_down_and_recovers() {
    let (mut redis, node, _dir) = start("closed").await;
    redis.kill();
    let answers = checks(&node, "k", 5).await;
    assert!(
        answers
            .iter()
            .all(|(s, b)| *s == 503 && b["error"] == "redis_unavailable"),
        "{answers:?}"
    );
    let (_, info) = node.get_json(&client(), "/v1/node").await;
    assert_eq!(info["failure_decisions"]["closed"], 5);
    assert_recovers_exactly(&mut redis, &node).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_mode_enforces_the_limit_in_process_and_recovers() {
    let (mut redis, node, _dir) = start("local").await;
    redis.kill();
    let answers = checks(&node, "k", 15).await;
    let allowed = answers.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(
        allowed, 10,
        "one Up node: the whole limit, enforced locally"
    );
    assert!(
        answers
            .iter()
            .all(|(s, b)| (*s == 200 || *s == 429) && b["degraded"] == "local")
    );
    let metrics = metrics(&node).await;
    assert!(
        metrics.contains("result=\"failure_local_allowed\"} 10"),
        "{metrics}"
    );
    assert!(metrics.contains("result=\"failure_local_denied\"} 5"));
    assert_recovers_exactly(&mut redis, &node).await;
}

/// The node's count of decisions that skipped Redis (its breaker open).
async fn skipped(node: &NodeProcess) -> u64 {
    let (_, info) = node.get_json(&client(), "/v1/node").await;
    info["redis_skipped"].as_u64().expect("redis_skipped")
}

/// Decides for `key` repeatedly during `d`: long enough for the breaker to open (Redis calls
/// failing for its cool-down, 100 ms).
async fn keep_deciding(node: &NodeProcess, key: &str, d: Duration) {
    let until = Instant::now() + d;
    while Instant::now() < until {
        checks(node, key, 1).await;
    }
}

/// The node's `/metrics` text.
async fn metrics(node: &NodeProcess) -> String {
    client()
        .get(node.url_for("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_redis_costs_at_most_the_timeout_then_nothing() {
    let (redis, node, _dir) = start("open").await;
    redis.signal(libc::SIGSTOP);
    keep_deciding(&node, "k", Duration::from_millis(400)).await;
    let before = skipped(&node).await;
    let answers = checks(&node, "k", 20).await;
    let after = skipped(&node).await;
    let (_, info) = node.get_json(&client(), "/v1/node").await;
    redis.signal(libc::SIGCONT);
    assert!(
        answers
            .iter()
            .all(|(s, b)| *s == 200 && b["degraded"] == "open"),
        "{answers:?}"
    );
    // The first decisions waited for the timeout; once the breaker opened, none did.
    assert!(info["redis_timeouts"].as_u64().unwrap() >= 1, "{info}");
    assert_eq!(
        after - before,
        20,
        "decisions still waited for a frozen Redis: {info}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_redis_is_down_decisions_skip_it_and_resume_through_it_when_it_returns() {
    let (mut redis, node, _dir) = start("local").await;
    redis.kill();
    keep_deciding(&node, "k", Duration::from_millis(400)).await;
    let before = skipped(&node).await;
    let answers = checks(&node, "k", 50).await;
    let after = skipped(&node).await;
    assert!(answers.iter().all(|(_, b)| b["degraded"] == "local"));
    assert_eq!(after - before, 50, "decisions kept calling a dead Redis");
    let metrics = metrics(&node).await;
    let line = format!("ratelimiter_redis_skipped_total{{node=\"node-local\"}} {after}");
    assert!(metrics.contains(&line), "{line} not in:\n{metrics}");
    // Back: the breaker closes by itself and limiting is shared and exact again.
    assert_recovers_exactly(&mut redis, &node).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_starts_without_redis_and_joins_when_it_comes() {
    let mut redis = RedisServer::start();
    redis.kill();
    let dir = tempfile::tempdir().unwrap();
    let file = policies_file(&dir, POLICIES);
    let node = NodeProcess::start(
        &redis.url(),
        "late",
        &[
            "--policies",
            file.to_str().unwrap(),
            "--failure-mode",
            "local",
        ],
    );
    let client = client();
    let (status, _) = node.get_json(&client, "/readyz").await;
    assert_eq!(status, 503);
    let (status, body) = node.check(&client, "k").await;
    assert_eq!((status, body["degraded"].as_str()), (200, Some("local")));
    assert_recovers_exactly(&mut redis, &node).await;
}
