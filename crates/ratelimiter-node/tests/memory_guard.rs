//! The memory guard with a real Redis capped by `maxmemory` (`noeviction`): a flood of unique
//! keys leaves Redis under its limit and the node answering 2xx/429 (never 5xx), new keys are
//! limited in process once the guard is on, and a key that had a counter keeps its exact limit.
//! (The million-key flood is a benchmark: docs/BENCHMARKS.md, "Memory guard".)

#![allow(clippy::print_stderr)] // the test prints the figures docs/BENCHMARKS.md quotes

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use support::{NodeApi, NodeProcess, client, policies_file, wait_until};
use test_support::RedisServer;

const POLICIES: &str = r#"
[policies.default]
windows = [{ limit = 5, window_ms = 600000 }]
"#;

/// Unique keys sent by the flood.
const FLOOD: u64 = 40_000;

fn info_field(redis: &RedisServer, name: &str) -> u64 {
    let info = redis.cmd(&["INFO", "memory"]);
    ratelimiter_node::store::parse_memory(&info)
        .map(|m| if name == "used" { m.used } else { m.max })
        .expect("INFO memory")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unique_keys_leaves_redis_under_maxmemory_and_the_node_answering() {
    let redis = RedisServer::builder()
        .args(["--maxmemory", "8mb", "--maxmemory-policy", "noeviction"])
        .start();
    let dir = tempfile::tempdir().unwrap();
    let file = policies_file(&dir, POLICIES);
    let node = NodeProcess::start(
        &redis.url(),
        "guarded",
        &[
            "--policies",
            file.to_str().unwrap(),
            "--memory-guard-ratio",
            "0.5",
            "--failure-mode",
            "local",
        ],
    );
    let http = client();
    let ready = wait_until(Duration::from_secs(10), || async {
        node.check(&http, "existing")
            .await
            .1
            .get("degraded")
            .is_none()
    })
    .await;
    assert!(ready, "not deciding with redis");
    for _ in 0..2 {
        assert_eq!(node.check(&http, "existing").await.0, 200);
    }

    let next = Arc::new(AtomicU64::new(0));
    let (ok, denied, other) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let url = node.url_for("/v1/check");
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let (http, url, next) = (http.clone(), url.clone(), next.clone());
            let (ok, denied, other) = (ok.clone(), denied.clone(), other.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Relaxed);
                    if i >= FLOOD {
                        return;
                    }
                    let body = format!(r#"{{"key":"flood:{i:08}"}}"#);
                    let r = http
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await;
                    let counter = match r.map(|r| r.status().as_u16()) {
                        Ok(200) => &ok,
                        Ok(429) => &denied,
                        _ => &other,
                    };
                    counter.fetch_add(1, Relaxed);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        other.load(Relaxed),
        0,
        "answers other than 200/429 (or no answer)"
    );
    assert_eq!(ok.load(Relaxed) + denied.load(Relaxed), FLOOD);

    let (used, max) = (info_field(&redis, "used"), info_field(&redis, "max"));
    assert!(
        used * 10 < max * 9,
        "redis at {used} of {max} bytes: the flood filled it"
    );
    let (_, info) = node.get_json(&http, "/v1/node").await;
    let guard = &info["abuse"]["memory_guard"];
    assert_eq!(guard["active"], true, "{guard}");
    let guarded = guard["guarded_decisions"].as_u64().unwrap();
    eprintln!("flood of {FLOOD} keys: redis at {used} of {max} bytes, {guarded} guarded decisions");
    assert!(
        guarded > FLOOD / 4,
        "only {guarded} decisions guarded: {guard}"
    );

    // The key with a counter keeps its exact, shared limit (5 per 10 min; 3 used).
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let (status, body) = node.check(&http, "existing").await;
        assert!(
            body.get("degraded").is_none(),
            "an existing key decided in process: {body}"
        );
        statuses.push(status);
    }
    assert_eq!(statuses, [200, 200, 429, 429]);
    // A new key is limited at this node's share (1 node up: the whole limit), never unlimited.
    let answers: Vec<u16> = {
        let mut v = Vec::new();
        for _ in 0..7 {
            v.push(node.check(&http, "brand-new").await.0);
        }
        v
    };
    assert_eq!(answers, [200, 200, 200, 200, 200, 429, 429]);
    let metrics = http
        .get(node.url_for("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("ratelimiter_abuse_memory_guard_active{node=\"guarded\"} 1"));
}
