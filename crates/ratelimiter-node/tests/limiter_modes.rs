//! The teaching modes (`--limiter-mode naive|memory`) against the exact one (`atomic`), on a real
//! Redis and three real nodes: the same burst of 1,000 concurrent checks of one key with a limit
//! of 100 is admitted past the limit by `naive` (measured), exactly by `atomic`, and up to the
//! limit per node by `memory`. And a node in a teaching mode says so: a WARN at start, in
//! `/v1/node` and in `/metrics`.

#![allow(clippy::print_stderr)] // the naive test prints how far over it went (docs quote it)

mod support;

use std::collections::BTreeMap;

use support::{NodeApi, NodeProcess, client, policies_file, redis_conn};
use test_support::RedisServer;

const POLICIES: &str = r#"
[policies.default]
windows = [{ limit = 100, window_ms = 60000 }]
"#;

/// Sends `n` checks of `key` at once, round-robin over `nodes`; per deciding node (its `node`
/// field), how many were admitted, and every status seen.
///
/// "At once" as far as a test can: the connections are opened first (a warm-up burst on other
/// keys leaves them in the client's pool), and every request waits at a barrier, so the checks
/// reach the nodes together instead of trickling in as connections are made.
async fn burst(nodes: &[NodeProcess], key: &str, n: usize) -> (BTreeMap<String, usize>, Vec<u16>) {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(20))
        .pool_max_idle_per_host(n)
        .build()
        .expect("http client");
    let mut warm_up = tokio::task::JoinSet::new();
    for i in 0..n {
        let request = client
            .post(nodes[i % nodes.len()].url_for("/v1/check"))
            .json(&serde_json::json!({ "key": format!("warm-up:{i}") }));
        warm_up.spawn(async move { request.send().await.expect("warm-up check").status() });
    }
    warm_up.join_all().await;
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(n));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let url = nodes[i % nodes.len()].url_for("/v1/check");
        let client = client.clone();
        let body = serde_json::json!({ "key": key });
        let barrier = barrier.clone();
        tasks.spawn(async move {
            let request = client.post(url).json(&body);
            barrier.wait().await;
            let r = request.send().await.expect("check");
            let status = r.status().as_u16();
            let body: serde_json::Value = r.json().await.unwrap_or_default();
            (status, body["node"].as_str().unwrap_or("?").to_owned())
        });
    }
    let mut admitted = BTreeMap::new();
    let mut statuses = Vec::new();
    for (status, node) in tasks.join_all().await {
        if status == 200 {
            *admitted.entry(node).or_insert(0) += 1;
        }
        statuses.push(status);
    }
    (admitted, statuses)
}

/// Asserts that every decision of every node went through its limiter mode, none by the
/// failure mode (which would explain any count).
async fn assert_no_failure_decisions(nodes: &[NodeProcess]) {
    let client = client();
    for node in nodes {
        let (_, info) = node.get_json(&client, "/v1/node").await;
        assert_eq!(
            info["failure_decisions"],
            serde_json::json!({"open": 0, "closed": 0, "local": 0}),
            "no decision by the failure mode: {info}"
        );
    }
}

/// The `c` field of the current counter of `key` under the `default` policy.
fn redis_count(redis: &RedisServer, key: &str) -> Option<u64> {
    let name = ratelimiter_schema::keys::counter_key("ratelimit:", key, "default", 60_000);
    let c: Option<u64> = redis::cmd("HGET")
        .arg(&name)
        .arg("c")
        .query(&mut redis_conn(&redis.url()))
        .expect("HGET");
    c
}

fn start_nodes(redis: &RedisServer, args: &[&str]) -> Vec<NodeProcess> {
    ["a", "b", "c"]
        .iter()
        .map(|id| NodeProcess::start(&redis.url(), id, args))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn naive_mode_admits_past_the_limit_under_concurrency_where_atomic_is_exact() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let file = policies_file(&dir, POLICIES);
    let file = file.to_str().unwrap();
    // A generous Redis timeout: a decision that times out goes to the failure mode, which is
    // not what this test measures.
    let base = ["--policies", file, "--redis-timeout-ms", "5000"];
    let naive: Vec<&str> = base
        .iter()
        .copied()
        .chain(["--limiter-mode", "naive"])
        .collect();
    let mut nodes = start_nodes(&redis, &naive);

    let (admitted, statuses) = burst(&nodes, "hot:naive", 1000).await;
    assert_no_failure_decisions(&nodes).await;
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 429),
        "{statuses:?}"
    );
    let total: usize = admitted.values().sum();
    eprintln!("naive mode: {total} of 1000 admitted under a limit of 100, by node {admitted:?}");
    assert!(
        total > 100,
        "the check-then-increment race admits past the limit: {total}"
    );
    // The increments lose nothing: Redis holds the over-admission for the operator to see.
    assert_eq!(redis_count(&redis, "hot:naive"), Some(total as u64));
    let (_, info) = nodes[0].get_json(&client(), "/v1/node").await;
    assert_eq!(info["limiter_mode"], "naive", "{info}");

    // The same burst once the nodes are atomic again (the default): exactly the limit.
    for node in &mut nodes {
        node.restart_with(base.iter().map(|s| (*s).to_owned()).collect());
    }
    let (admitted, statuses) = burst(&nodes, "hot:atomic", 1000).await;
    assert_no_failure_decisions(&nodes).await;
    let total: usize = admitted.values().sum();
    assert_eq!(
        (total, statuses.iter().filter(|s| **s == 429).count()),
        (100, 900),
        "atomic mode is exact: {admitted:?}"
    );
    assert_eq!(redis_count(&redis, "hot:atomic"), Some(100));
    let client = client();
    let (_, info) = nodes[1].get_json(&client, "/v1/node").await;
    assert_eq!(info["limiter_mode"], "atomic", "{info}");
    let metrics = client
        .get(nodes[1].url_for("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("ratelimiter_limiter_mode{node=\"b\",mode=\"atomic\"} 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_mode_admits_the_whole_limit_per_node_and_says_so_loudly() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let file = policies_file(&dir, POLICIES);
    let file = file.to_str().unwrap().to_owned();
    let log = dir.path().join("b.log");
    let memory = ["--policies", &file, "--limiter-mode", "memory"];
    // Node b takes its mode from the environment, and logs at warn into a file.
    let nodes = vec![
        NodeProcess::start(&redis.url(), "a", &memory),
        NodeProcess::builder(&redis.url(), "b")
            .args(["--policies", &file])
            .env("RATELIMITER_LIMITER_MODE", "memory")
            .env("RUST_LOG", "warn")
            .log_file(&log)
            .start(),
        NodeProcess::start(&redis.url(), "c", &memory),
    ];

    let (admitted, _) = burst(&nodes, "hot:memory", 1000).await;
    assert_no_failure_decisions(&nodes).await;
    // Each node saw 333 or 334 checks and admitted its own 100: 300 in all.
    assert_eq!(
        admitted,
        BTreeMap::from([("a".into(), 100), ("b".into(), 100), ("c".into(), 100)]),
    );
    assert_eq!(
        redis_count(&redis, "hot:memory"),
        None,
        "memory mode writes no counter to Redis"
    );

    let client = client();
    let (_, info) = nodes[1].get_json(&client, "/v1/node").await;
    assert_eq!(info["limiter_mode"], "memory", "{info}");
    let metrics = client
        .get(nodes[1].url_for("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("ratelimiter_limiter_mode{node=\"b\",mode=\"memory\"} 1"),
        "{metrics}"
    );
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        logged.contains("WARN") && logged.contains("--limiter-mode memory is NOT exact"),
        "a loud warning at start: {logged}"
    );
}

#[test]
fn an_unknown_limiter_mode_exits_2_naming_the_flag() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ratelimiter-node"))
        .args([
            "--listen",
            &format!("127.0.0.1:{}", test_support::free_port()),
        ])
        .args(["--limiter-mode", "fast"])
        .env_remove("RATELIMITER_LIMITER_MODE")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--limiter-mode") && stderr.contains("atomic, naive or memory"),
        "{stderr}"
    );
}
