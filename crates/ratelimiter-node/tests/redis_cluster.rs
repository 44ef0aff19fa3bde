//! The node on a real Redis Cluster (3 primaries + 3 replicas of `redis-server`, from
//! `test_support::RedisCluster`): exact limits across three node processes, keys spread over
//! every primary, every key with a TTL, `/v1/node` shards, a primary SIGKILLed under load, a
//! node started before the cluster, and a slot with hot keys migrated under load.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use support::cluster::{
    burst, count, key_on, local_decisions, script_reloads, tag, wait_all_shards_ok,
};
use support::{NodeApi, NodeProcess, client, policies_file, wait_until};
use test_support::node::Readiness;
use test_support::{ClusterPorts, RedisCluster};

const POLICIES: &str = r#"
[policies.default]
windows = [{ limit = 100, window_ms = 60000 }]

[policies.exact]
match = "exact:*"
windows = [{ limit = 20, window_ms = 60000 }]

[policies.moving]
match = "moving:*"
windows = [{ limit = 50, window_ms = 60000 }, { limit = 60, window_ms = 3600000 }]
"#;

/// Three nodes in cluster mode on `seeds`, each with `extra` flags, started together and waited
/// for as `readiness`.
fn nodes(
    seeds: &str,
    dir: &tempfile::TempDir,
    extra: &[&str],
    readiness: Readiness,
) -> Vec<NodeProcess> {
    let file = policies_file(dir, POLICIES);
    let mut nodes: Vec<NodeProcess> = ["a", "b", "c"]
        .iter()
        .map(|id| {
            NodeProcess::builder(seeds, id)
                .args([
                    "--redis-mode",
                    "cluster",
                    "--policies",
                    file.to_str().unwrap(),
                ])
                .args(extra.iter().copied())
                .wait_for(readiness)
                .spawn()
        })
        .collect();
    for n in &mut nodes {
        n.wait();
    }
    nodes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_decide_exactly_spread_keys_over_every_primary_and_set_every_ttl() {
    let cluster = RedisCluster::start();
    let dir = tempfile::tempdir().unwrap();
    let nodes = nodes(
        &cluster.seed_urls(),
        &dir,
        &["--redis-timeout-ms", "5000"],
        Readiness::Ready,
    );

    let (statuses, degraded) = burst(&nodes, "hot:1", 1000).await;
    assert_eq!(degraded, 0, "every decision went through redis");
    assert_eq!((count(&statuses, 200), count(&statuses, 429)), (100, 900));

    // A mixed load: 300 users, one check each, all allowed, keys on every primary.
    let client = client();
    for i in 0..300 {
        let (status, body) = nodes[i % 3].check(&client, &format!("user:{i}")).await;
        assert_eq!(status, 200, "{body}");
    }
    let primaries = cluster.primaries();
    assert_eq!(primaries.len(), 3);
    for (port, _) in &primaries {
        let keys = cluster.cli(*port, &["--scan", "--pattern", "ratelimit:c:{user:*"]);
        let n = keys.lines().filter(|l| !l.is_empty()).count();
        assert!(n > 30, "primary {port} holds {n} of 300 user counters");
    }
    // GET /v1/counters walks every primary.
    let mut cursor = "0".to_owned();
    let mut listed = std::collections::BTreeSet::new();
    for _ in 0..1000 {
        let path = format!("/v1/counters?prefix=user:&count=50&cursor={cursor}");
        let (status, page) = nodes[0].get_json(&client, &path).await;
        assert_eq!(status, 200, "{page}");
        for c in page["counters"].as_array().unwrap() {
            listed.insert(c["key"].as_str().unwrap().to_owned());
        }
        cursor = page["next_cursor"].as_str().unwrap().to_owned();
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(
        (cursor.as_str(), listed.len()),
        ("0", 300),
        "every user counter listed once"
    );
    // Every key on every shard has a TTL (policies and nodes included).
    let no_ttl = "local n = 0 for _, k in ipairs(redis.call('KEYS', '*')) do \
                  if redis.call('PTTL', k) < 0 then n = n + 1 end end return n";
    for (port, _) in &primaries {
        assert_eq!(
            cluster.cmd(*port, &["EVAL", no_ttl, "0"]),
            ":0",
            "keys without TTL on {port}"
        );
    }
    // The shared keys are in one slot, on one primary.
    let shared = cluster.primary_of_key("ratelimit:{shared}:policies");
    assert_eq!(
        cluster.cmd(
            shared,
            &[
                "EXISTS",
                "ratelimit:{shared}:policies",
                "ratelimit:{shared}:nodes"
            ]
        ),
        ":2"
    );

    wait_all_shards_ok(&nodes, Duration::from_secs(10)).await;
    let (_, info) = nodes[0].get_json(&client, "/v1/node").await;
    let mut covered = 0;
    for s in info["shards"].as_array().unwrap() {
        for r in s["slots"].as_array().unwrap() {
            covered += r[1].as_u64().unwrap() - r[0].as_u64().unwrap() + 1;
        }
        let port: u16 = s["address"]
            .as_str()
            .unwrap()
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            primaries.iter().any(|(p, _)| *p == port),
            "{s} is a primary"
        );
    }
    assert_eq!(
        covered, 16384,
        "the shards cover every slot: {}",
        info["shards"]
    );
    let (status, ready) = nodes[0].get_json(&client, "/readyz").await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["degraded_shards"], serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkilled_primary_fails_over_under_load_without_5xx_and_exact_limits_resume() {
    let mut cluster = RedisCluster::start();
    let dir = tempfile::tempdir().unwrap();
    let nodes = Arc::new(nodes(
        &cluster.seed_urls(),
        &dir,
        &["--redis-timeout-ms", "300"],
        Readiness::Ready,
    ));
    wait_all_shards_ok(&nodes, Duration::from_secs(10)).await;

    let hot = "hot:failover";
    let old = cluster.primary_of_key(&tag(hot));
    let slot = cluster.slot_of(&tag(hot));
    let healthy_key = key_on(&cluster, "healthy:", old, true);

    // Load on the hot key (and on a key of a healthy shard) until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (nodes, stop, healthy_key) =
            (Arc::clone(&nodes), Arc::clone(&stop), healthy_key.clone());
        tokio::spawn(async move {
            let client = client();
            let (mut statuses, mut healthy_degraded, mut i) = (Vec::new(), 0usize, 0usize);
            while !stop.load(Ordering::Relaxed) {
                let node = &nodes[i % 3];
                statuses.push(node.check(&client, hot).await.0);
                let (s, body) = node.check(&client, &healthy_key).await;
                statuses.push(s);
                healthy_degraded += usize::from(!body["degraded"].is_null());
                i += 1;
            }
            (statuses, healthy_degraded)
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (reloaded_before, _) = script_reloads(&nodes, &client()).await;
    cluster.kill(old);
    let new = cluster.wait_for_failover(slot, old, Duration::from_secs(30));
    assert_ne!(new, old);
    wait_all_shards_ok(&nodes, Duration::from_secs(20)).await;
    stop.store(true, Ordering::Relaxed);
    let (statuses, healthy_degraded) = load.await.unwrap();
    let bad: Vec<&u16> = statuses
        .iter()
        .filter(|s| **s != 200 && **s != 429)
        .collect();
    assert!(bad.is_empty(), "no 5xx outside the failure mode: {bad:?}");
    assert!(
        statuses.len() > 20,
        "the load ran: {} checks",
        statuses.len()
    );
    assert_eq!(
        healthy_degraded, 0,
        "the healthy shard's key never went to the failure mode"
    );

    // Exact limiting resumed on the promoted replica, nothing restarted.
    let exact = key_on(&cluster, "exact:", new, false);
    let client = client();
    let before: Vec<u64> = local_decisions(&nodes, &client).await;
    let (statuses, degraded) = burst(&nodes, &exact, 60).await;
    assert_eq!(degraded, 0, "decided by redis again");
    assert_eq!(
        (count(&statuses, 200), count(&statuses, 429)),
        (20, 40),
        "exactly the limit"
    );
    assert_eq!(
        local_decisions(&nodes, &client).await,
        before,
        "no failure-mode decision meanwhile"
    );
    // The promoted replica never saw the scripts (Redis replicates their effects): its first
    // decisions answered NOSCRIPT and the node sent the body (EVAL) to it.
    let (reloaded, failed) = script_reloads(&nodes, &client).await;
    assert!(
        reloaded > reloaded_before,
        "scripts reloaded on the promoted replica"
    );
    assert_eq!(failed, 0, "every reload worked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_started_before_the_cluster_becomes_ready_when_it_comes_up() {
    let ports = ClusterPorts::pick();
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProcess::builder(&ports.seed_urls(), "early")
        .args(["--redis-mode", "cluster", "--policies"])
        .args([policies_file(&dir, POLICIES).to_str().unwrap()])
        .wait_for(Readiness::Healthy)
        .start();
    let client = client();
    let (status, body) = node.get_json(&client, "/readyz").await;
    assert_eq!(status, 503, "not ready without the cluster: {body}");
    let (status, _) = node.check(&client, "early:1").await;
    assert_eq!(status, 200, "decided by the failure mode meanwhile");

    let _cluster = RedisCluster::start_on(ports);
    let ready = wait_until(Duration::from_secs(30), || async {
        node.get_json(&client, "/readyz").await.0 == 200
    })
    .await;
    assert!(
        ready,
        "ready once the cluster is up: {}",
        node.get_json(&client, "/readyz").await.1
    );
    let (status, body) = node.check(&client, "early:2").await;
    assert_eq!(
        (status, body["degraded"].clone()),
        (200, serde_json::Value::Null),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_with_hot_keys_migrated_under_load_keeps_limits_exact_without_5xx() {
    let cluster = Arc::new(RedisCluster::start());
    let dir = tempfile::tempdir().unwrap();
    let nodes = Arc::new(nodes(
        &cluster.seed_urls(),
        &dir,
        &["--redis-timeout-ms", "2000"],
        Readiness::Ready,
    ));
    wait_all_shards_ok(&nodes, Duration::from_secs(10)).await;

    // Hot keys of one slot (one hash tag, several policies' windows), plus filler keys so that
    // the migration takes several batches.
    let hot = "moving:hot";
    let slot = cluster.slot_of(&tag(hot));
    let from = cluster.primary_of_slot(slot);
    let to = cluster
        .primaries()
        .into_iter()
        .map(|(p, _)| p)
        .find(|&p| p != from)
        .unwrap();
    let client = client();
    assert_eq!(nodes[0].check(&client, hot).await.0, 200);
    for i in 0..40 {
        let filler = format!("ratelimit:filler:{{moving:hot}}:{i}");
        assert_eq!(
            cluster.cmd(from, &["SET", &filler, "x", "PX", "60000"]),
            "+OK"
        );
    }

    let mover = {
        let cluster = Arc::clone(&cluster);
        tokio::task::spawn_blocking(move || {
            cluster.migrate_slot(slot, from, to, 5, || {
                std::thread::sleep(Duration::from_millis(100))
            });
        })
    };
    // 199 more checks while the slot moves (50 allowed in all, the first one included).
    let mut statuses = vec![200];
    let mut degraded = 0;
    for _ in 0..9 {
        let (s, d) = burst(&nodes, hot, 22).await;
        statuses.extend(s);
        degraded += d;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    mover.await.unwrap();
    let (s, d) = burst(&nodes, hot, 1).await;
    statuses.extend(s);
    degraded += d;
    assert_eq!(cluster.primary_of_slot(slot), to, "the slot moved");
    let bad: Vec<&u16> = statuses
        .iter()
        .filter(|s| **s != 200 && **s != 429)
        .collect();
    assert!(bad.is_empty(), "no 5xx: {bad:?}");
    assert_eq!(
        degraded, 0,
        "MOVED/ASK followed: no decision by the failure mode"
    );
    assert_eq!(
        (count(&statuses, 200), count(&statuses, 429)),
        (50, 150),
        "exact across the move"
    );
    assert_eq!(
        cluster.cmd(to, &["EXISTS", "ratelimit:c:{moving:hot}:moving:60000"]),
        ":1",
        "the counter lives on the new owner"
    );
}
