//! Helpers of the cluster tests: bursts of checks, shard state in `/v1/node`, keys placed on a
//! given primary, and the script-reload and failure-mode counters.

use std::time::Duration;

use test_support::{NodeProcess, RedisCluster};

use super::{NodeApi, client, wait_until};

/// The counter key tag of `user_key` (its slot is the decision's slot).
pub fn tag(user_key: &str) -> String {
    format!("{{{user_key}}}")
}

/// `n` concurrent checks of `key` spread over `nodes`; the statuses and how many answers were
/// degraded (decided by the failure mode).
pub async fn burst(nodes: &[NodeProcess], key: &str, n: usize) -> (Vec<u16>, usize) {
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
    let degraded = all.iter().filter(|(_, d)| *d).count();
    (all.into_iter().map(|(s, _)| s).collect(), degraded)
}

pub fn count(statuses: &[u16], code: u16) -> usize {
    statuses.iter().filter(|s| **s == code).count()
}

/// Waits until every node reports 3 shards, all ok, in cluster mode.
pub async fn wait_all_shards_ok(nodes: &[NodeProcess], timeout: Duration) {
    let client = client();
    for node in nodes {
        let ok = wait_until(timeout, || async {
            let (_, info) = node.get_json(&client, "/v1/node").await;
            let shards = info["shards"].as_array().cloned().unwrap_or_default();
            info["redis_mode"] == "cluster"
                && shards.len() == 3
                && shards
                    .iter()
                    .all(|s| s["ok"] == true && s["rtt_us"].is_u64())
        })
        .await;
        let (_, info) = node.get_json(&client, "/v1/node").await;
        assert!(ok, "shards not all ok: {}", info["shards"]);
    }
}

/// A user key with `prefix` whose slot is served by the primary on `port` (or, with
/// `avoid`, by any other primary).
pub fn key_on(cluster: &RedisCluster, prefix: &str, port: u16, avoid: bool) -> String {
    (0..10_000)
        .map(|i| format!("{prefix}{i}"))
        .find(|k| (cluster.primary_of_key(&tag(k)) == port) != avoid)
        .expect("a key on that primary")
}

/// `ratelimiter_script_reloads_total` summed over the nodes: (ok, failed).
pub async fn script_reloads(nodes: &[NodeProcess], client: &reqwest::Client) -> (u64, u64) {
    let (mut ok, mut failed) = (0, 0);
    for node in nodes {
        let text = client
            .get(node.url_for("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let value = |result: &str| -> u64 {
            text.lines()
                .find(|l| l.starts_with("ratelimiter_script_reloads_total") && l.contains(result))
                .and_then(|l| l.rsplit(' ').next()?.parse().ok())
                .unwrap_or(0)
        };
        ok += value("result=\"ok\"");
        failed += value("result=\"failed\"");
    }
    (ok, failed)
}

/// Each node's count of `local` failure-mode decisions.
pub async fn local_decisions(nodes: &[NodeProcess], client: &reqwest::Client) -> Vec<u64> {
    let mut out = Vec::new();
    for n in nodes {
        let (_, info) = n.get_json(client, "/v1/node").await;
        out.push(
            info["failure_decisions"]["local"]
                .as_u64()
                .unwrap_or(u64::MAX),
        );
    }
    out
}
