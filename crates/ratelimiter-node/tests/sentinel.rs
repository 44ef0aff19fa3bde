//! The node on Redis Sentinel (a primary, a replica and three real `redis-sentinel`s from
//! `test_support::RedisSentinels`): exact limits, the primary killed under load, the nodes
//! following the promoted replica with no 5xx, limits exact again without restarts.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use support::{NodeApi, NodeProcess, client, policies_file, wait_until};
use test_support::RedisSentinels;
use test_support::node::Readiness;
use test_support::redis_sentinel::SENTINEL_MASTER;

const POLICIES: &str = r#"
[policies.default]
windows = [{ limit = 100, window_ms = 60000 }]

[policies.exact]
match = "exact:*"
windows = [{ limit = 20, window_ms = 60000 }]
"#;

/// `n` concurrent checks of `key` over `nodes`: (allowed, denied, other statuses, degraded).
async fn burst(nodes: &[NodeProcess], key: &str, n: usize) -> (usize, usize, Vec<u16>, usize) {
    let client = client();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let url = nodes[i % nodes.len()].url_for("/v1/check");
        let (client, key) = (client.clone(), key.to_owned());
        tasks.spawn(async move {
            let r = client
                .post(url)
                .json(&serde_json::json!({ "key": key }))
                .send()
                .await
                .expect("check");
            let status = r.status().as_u16();
            let body: serde_json::Value = r.json().await.unwrap_or_default();
            (status, !body["degraded"].is_null())
        });
    }
    let all = tasks.join_all().await;
    let allowed = all.iter().filter(|(s, _)| *s == 200).count();
    let denied = all.iter().filter(|(s, _)| *s == 429).count();
    let other = all
        .iter()
        .map(|(s, _)| *s)
        .filter(|s| *s != 200 && *s != 429)
        .collect();
    (
        allowed,
        denied,
        other,
        all.iter().filter(|(_, d)| *d).count(),
    )
}

/// Waits until every node reports the primary on `port`, answering.
async fn wait_following(nodes: &[NodeProcess], port: u16, timeout: Duration) {
    let client = client();
    let want = format!("127.0.0.1:{port}");
    for node in nodes {
        let ok = wait_until(timeout, || async {
            let (_, info) = node.get_json(&client, "/v1/node").await;
            info["redis_mode"] == "sentinel"
                && info["shards"][0]["address"] == want.as_str()
                && info["shards"][0]["ok"] == true
        })
        .await;
        let (_, info) = node.get_json(&client, "/v1/node").await;
        assert!(ok, "node does not follow {want}: {}", info["shards"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_follow_a_sentinel_failover_and_limits_are_exact_again() {
    let mut set = RedisSentinels::start();
    let dir = tempfile::tempdir().unwrap();
    let file = policies_file(&dir, POLICIES);
    let mut nodes: Vec<NodeProcess> = ["a", "b", "c"]
        .iter()
        .map(|id| {
            NodeProcess::builder(&set.sentinel_urls(), id)
                .args([
                    "--redis-mode",
                    "sentinel",
                    "--sentinel-master",
                    SENTINEL_MASTER,
                ])
                .args(["--redis-timeout-ms", "500", "--policies"])
                .args([file.to_str().unwrap()])
                .wait_for(Readiness::Ready)
                .spawn()
        })
        .collect();
    for n in &mut nodes {
        n.wait();
    }
    let nodes = Arc::new(nodes);
    let old = set.primary_port();
    wait_following(&nodes, old, Duration::from_secs(10)).await;
    let (allowed, denied, other, degraded) = burst(&nodes, "exact:before", 60).await;
    assert_eq!((allowed, denied, other, degraded), (20, 40, vec![], 0));

    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (nodes, stop) = (Arc::clone(&nodes), Arc::clone(&stop));
        tokio::spawn(async move {
            let client = client();
            let (mut statuses, mut i) = (Vec::new(), 0usize);
            while !stop.load(Ordering::Relaxed) {
                statuses.push(nodes[i % 3].check(&client, "hot:sentinel").await.0);
                i += 1;
            }
            statuses
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    set.kill(old);
    let new = set.wait_for_failover(old, Duration::from_secs(40));
    wait_following(&nodes, new, Duration::from_secs(20)).await;
    stop.store(true, Ordering::Relaxed);
    let statuses = load.await.unwrap();
    let bad: Vec<&u16> = statuses
        .iter()
        .filter(|s| **s != 200 && **s != 429)
        .collect();
    assert!(bad.is_empty(), "no 5xx through the failover: {bad:?}");
    assert!(statuses.len() > 20, "the load ran");

    let (allowed, denied, other, degraded) = burst(&nodes, "exact:after", 60).await;
    assert_eq!(
        (allowed, denied, other, degraded),
        (20, 40, vec![], 0),
        "exact on the promoted replica, nothing restarted"
    );
    assert_eq!(
        set.cmd(new, &["EXISTS", "ratelimit:c:{exact:after}:exact:60000"]),
        ":1",
        "the counter lives on the new primary"
    );
    let client = client();
    let (status, ready) = nodes[0].get_json(&client, "/readyz").await;
    assert_eq!(status, 200, "{ready}");
}
