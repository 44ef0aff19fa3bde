//! The near cache (`--near-cache`) on real nodes and a real Redis: exactness with cached
//! denials and leases, the Redis calls it saves, a denial's end at its `retry_after`,
//! invalidation on a counter reset and a policy change, leases given back on SIGTERM, and
//! Redis killed with leases outstanding.

#![allow(clippy::print_stderr)] // the hot-key test prints its figures

mod support;

use std::time::{Duration, Instant};

use support::{NodeApi, NodeProcess, client, policies_file, redis_conn, wait_until};
use test_support::RedisServer;

// Hour windows: a test's few seconds almost never cross a window boundary (where the previous
// window's weight would let a few more through and blur the exact counts).
const POLICIES: &str = r#"
[policies.default]
windows = [{ limit = 100, window_ms = 3600000 }]

[policies.big]
match = "big:*"
windows = [{ limit = 3000, window_ms = 3600000 }]

[policies.short]
match = "short:*"
windows = [{ limit = 5, window_ms = 1000 }]
"#;

/// Starts `ids.len()` nodes with the near cache on `redis`, and waits until each counts them
/// all Up (lease sizes follow the live node count).
async fn nodes(redis: &RedisServer, dir: &tempfile::TempDir, ids: &[&str]) -> Vec<NodeProcess> {
    let file = policies_file(dir, POLICIES);
    let args = [
        "--policies",
        file.to_str().unwrap(),
        "--near-cache",
        "--redis-timeout-ms",
        "5000",
        "--policy-poll-ms",
        "50",
    ];
    let nodes: Vec<NodeProcess> = ids
        .iter()
        .map(|id| NodeProcess::start(&redis.url(), id, &args))
        .collect();
    let client = client();
    for node in &nodes {
        let all_up = wait_until(Duration::from_secs(10), || async {
            let (_, info) = node.get_json(&client, "/v1/node").await;
            info["up_nodes"].as_u64() == Some(ids.len() as u64)
        })
        .await;
        assert!(all_up, "every node sees {} nodes Up", ids.len());
    }
    nodes
}

/// `cmdstat_evalsha:calls=` of `INFO commandstats` (0 before any).
fn evalsha_calls(conn: &mut redis::Connection) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(conn)
        .expect("INFO");
    info.lines()
        .find_map(|l| l.strip_prefix("cmdstat_evalsha:calls="))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// `count` checks of `key` spread over `nodes`, `concurrency` at a time; the statuses.
async fn burst(nodes: &[NodeProcess], key: &str, count: usize, concurrency: usize) -> Vec<u16> {
    let client = client();
    let urls: Vec<String> = nodes.iter().map(|n| n.url_for("/v1/check")).collect();
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (client, urls, next, key) =
            (client.clone(), urls.clone(), next.clone(), key.to_owned());
        tasks.spawn(async move {
            let mut statuses = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= count {
                    return statuses;
                }
                let r = client
                    .post(&urls[i % urls.len()])
                    .json(&serde_json::json!({ "key": key }))
                    .send()
                    .await
                    .expect("check");
                statuses.push(r.status().as_u16());
            }
        });
    }
    tasks.join_all().await.concat()
}

fn count(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_checks_over_three_cached_nodes_admit_exactly_the_limit() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let nodes = nodes(&redis, &dir, &["a", "b", "c"]).await;
    let statuses = burst(&nodes, "hot:1", 1000, 1000).await;
    assert_eq!(
        (count(&statuses, 200), count(&statuses, 429)),
        (100, 900),
        "{statuses:?}"
    );
    let client = client();
    let mut cached = 0;
    for node in &nodes {
        let (_, info) = node.get_json(&client, "/v1/node").await;
        assert_eq!(info["failure_decisions"]["local"], 0, "{info}");
        assert_eq!(info["near_cache"]["enabled"], true, "{info}");
        assert_eq!(
            info["near_cache"]["leases"]["taken"], 0,
            "limit 100: no lease"
        );
        cached += info["near_cache"]["decisions"]["denied"].as_u64().unwrap();
    }
    assert!(cached > 0, "some denials came from the cache");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hot_key_past_its_limit_admits_at_least_99_percent_and_denials_skip_redis() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let nodes = nodes(&redis, &dir, &["a", "b", "c"]).await;
    let mut conn = redis_conn(&redis.url());
    let before = evalsha_calls(&mut conn);
    // Past the limit of 3000 with 64 concurrent requests over three nodes.
    let statuses = burst(&nodes, "big:1", 4000, 64).await;
    let admitted = count(&statuses, 200);
    assert_eq!(admitted + count(&statuses, 429), 4000, "{statuses:?}");
    assert!(admitted <= 3000, "over-admission: {admitted}");
    assert!(admitted >= 2970, "under-admission past 1 %: {admitted}");
    let during = evalsha_calls(&mut conn) - before;
    // Leases of 10 (3000 × 1 % / 3 nodes): about one call per 10 admissions, and one lease
    // call at a time per key on each node (64 concurrent misses would otherwise each call).
    assert!(during < 450, "{during} script calls for 4000 decisions");
    let counted: u64 = redis::cmd("HGET")
        .arg("ratelimit:c:{big:1}:big:3600000")
        .arg("c")
        .query(&mut conn)
        .unwrap();
    assert!(
        counted <= 3000 && counted >= admitted as u64,
        "redis counts what was admitted and the leases unspent: {counted} vs {admitted}"
    );

    // Past the limit, every node answers from its cached denial.
    let after_limit = evalsha_calls(&mut conn);
    let statuses = burst(&nodes, "big:1", 1000, 64).await;
    assert_eq!(count(&statuses, 429), 1000);
    let denial_calls = evalsha_calls(&mut conn) - after_limit;
    eprintln!(
        "admitted {admitted} of 3000, {during} script calls for 4000 decisions, \
         {denial_calls} for 1000 denials after the limit"
    );
    assert!(
        denial_calls <= 3,
        "{denial_calls} script calls for 1000 denials"
    );

    let client = client();
    let (_, info) = nodes[0].get_json(&client, "/v1/node").await;
    let near = &info["near_cache"];
    assert!(near["leases"]["taken"].as_u64().unwrap() > 0, "{near}");
    assert!(near["decisions"]["leased"].as_u64().unwrap() > 0, "{near}");
    assert!(near["entries"].as_u64().unwrap() >= 1, "{near}");
    let metrics = client
        .get(nodes[0].url_for("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "ratelimiter_near_cache_decisions_total{node=\"a\",kind=\"denied\"}",
        "ratelimiter_near_cache_leases_total{node=\"a\",event=\"taken\"}",
        "ratelimiter_near_cache_unspent_leased{node=\"a\"}",
        "ratelimiter_near_cache_entries{node=\"a\"}",
        "ratelimiter_near_cache_bytes{node=\"a\"}",
        "ratelimiter_near_cache_evictions_total{node=\"a\"}",
    ] {
        assert!(metrics.contains(name), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_denial_ends_at_its_retry_after_not_earlier() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let nodes = nodes(&redis, &dir, &["a"]).await;
    let node = &nodes[0];
    let client = client();
    for _ in 0..5 {
        assert_eq!(node.check(&client, "short:1").await.0, 200);
    }
    let sent = Instant::now();
    let (status, body) = node.check(&client, "short:1").await;
    let answered = Instant::now();
    assert_eq!(status, 429, "{body}");
    let retry = Duration::from_millis(body["retry_after_ms"].as_u64().unwrap());
    // Cached denials count down with the same body as Redis's.
    let (status, again) = node.check(&client, "short:1").await;
    assert_eq!(status, 429);
    assert_eq!(
        (
            again["policy"].as_str(),
            again["limit"].as_u64(),
            again["remaining"].as_u64()
        ),
        (Some("short"), Some(5), Some(0))
    );
    assert!(again["retry_after_ms"].as_u64().unwrap() <= retry.as_millis() as u64);
    let admitted_at = loop {
        let asked = Instant::now();
        if node.check(&client, "short:1").await.0 == 200 {
            break (asked, Instant::now());
        }
        assert!(
            asked - sent < retry + Duration::from_secs(1),
            "never admitted"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    // Not earlier: the admitting request was answered at least retry_after after the denial
    // was asked for (Redis time runs between the two).
    assert!(
        admitted_at.1 - sent >= retry,
        "admitted {:?} after a denial saying {retry:?}",
        admitted_at.1 - sent
    );
    // Not (much) later: asked for within a few tens of ms of the retry_after.
    let late = (admitted_at.0 - answered).saturating_sub(retry);
    assert!(late < Duration::from_millis(60), "admitted {late:?} late");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counter_reset_and_a_policy_change_reach_every_nodes_cache() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let nodes = nodes(&redis, &dir, &["a", "b"]).await;
    let client = client();
    let statuses = burst(&nodes, "user:1", 110, 4).await;
    assert_eq!(count(&statuses, 200), 100);
    // Both nodes hold the denial now.
    for node in &nodes {
        assert_eq!(node.check(&client, "user:1").await.0, 429);
    }
    let r = client
        .delete(nodes[0].url_for("/v1/counters/user:1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let b_admits = wait_until(Duration::from_secs(3), || async {
        nodes[1].check(&client, "user:1").await.0 == 200
    })
    .await;
    assert!(
        b_admits,
        "the other node dropped its cached denial after the reset"
    );

    let statuses = burst(&nodes, "user:2", 110, 4).await;
    assert_eq!(count(&statuses, 200), 100);
    assert_eq!(nodes[1].check(&client, "user:2").await.0, 429);
    let r = client
        .put(nodes[0].url_for("/v1/policies/default"))
        .json(&serde_json::json!({"windows": [{"limit": 200, "window_ms": 3600000}]}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let b_admits = wait_until(Duration::from_secs(3), || async {
        nodes[1].check(&client, "user:2").await.0 == 200
    })
    .await;
    assert!(
        b_admits,
        "the other node dropped its cached denial after the policy change"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_gives_back_unspent_leases() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = nodes(&redis, &dir, &["a"]).await;
    let client = client();
    assert_eq!(nodes[0].check(&client, "big:7").await.0, 200);
    let mut conn = redis_conn(&redis.url());
    let key = "ratelimit:c:{big:7}:big:3600000";
    let counted = |conn: &mut redis::Connection| -> u64 {
        redis::cmd("HGET").arg(key).arg("c").query(conn).unwrap()
    };
    assert_eq!(counted(&mut conn), 30, "one node: a lease of 3000 × 1 %");
    let (_, info) = nodes[0].get_json(&client, "/v1/node").await;
    assert_eq!(info["near_cache"]["unspent_leased"], 29, "{info}");
    let status = nodes[0].terminate().expect("exit status");
    assert!(status.success(), "{status:?}");
    assert_eq!(counted(&mut conn), 1, "the unspent 29 were given back");
    let ttl: i64 = redis::cmd("PTTL").arg(key).query(&mut conn).unwrap();
    assert!(ttl > 0, "the TTL is kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_with_leases_outstanding_falls_back_to_the_failure_mode() {
    let mut redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let file = policies_file(&dir, POLICIES);
    let mut node = NodeProcess::start(
        &redis.url(),
        "a",
        &[
            "--policies",
            file.to_str().unwrap(),
            "--near-cache",
            "--failure-mode",
            "local",
        ],
    );
    let client = client();
    for key in ["big:1", "big:2", "big:3"] {
        assert_eq!(node.check(&client, key).await.0, 200);
    }
    redis.kill();
    let mut statuses = Vec::new();
    for i in 0..120 {
        statuses.push(node.check(&client, &format!("big:{}", 1 + i % 4)).await.0);
    }
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 429),
        "{statuses:?}"
    );
    assert!(node.is_running(), "the node did not crash");
    let (status, info) = node.get_json(&client, "/v1/node").await;
    assert_eq!(status, 200);
    assert!(
        info["near_cache"]["decisions"]["leased"].as_u64().unwrap() > 0,
        "leases (counted in Redis) are still spent: {info}"
    );
    assert!(
        info["failure_decisions"]["local"].as_u64().unwrap() > 0,
        "the rest is decided by the failure mode: {info}"
    );
    // SIGTERM with Redis gone: the give-back fails quickly and the node still exits.
    let exited = node.terminate().expect("exit status");
    assert!(exited.success(), "{exited:?}");
}

#[test]
fn a_bad_near_cache_bound_exits_2_naming_the_flag() {
    for (args, env) in [
        (vec!["--near-cache", "--near-cache-max-bytes", "1000"], None),
        (vec!["--near-cache-max-bytes", "lots"], None),
        (vec!["--near-cache"], Some("12")),
    ] {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ratelimiter-node"));
        cmd.args(["--listen", "127.0.0.1:0"]).args(&args);
        for (var, _) in std::env::vars_os() {
            if var.to_string_lossy().starts_with("RATELIMITER_") {
                cmd.env_remove(var);
            }
        }
        if let Some(v) = env {
            cmd.env("RATELIMITER_NEAR_CACHE_MAX_BYTES", v);
        }
        let out = cmd.output().expect("run the node");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("--near-cache-max-bytes"),
            "{args:?}: {stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_redis_cluster_leases_denials_resets_and_the_give_back_work_too() {
    let cluster = test_support::RedisCluster::start();
    let dir = tempfile::tempdir().unwrap();
    let file = policies_file(&dir, POLICIES);
    let mut node = NodeProcess::builder(&cluster.seed_urls(), "a")
        .args([
            "--redis-mode",
            "cluster",
            "--near-cache",
            "--redis-timeout-ms",
            "5000",
        ])
        .args([
            "--policies",
            file.to_str().unwrap(),
            "--policy-poll-ms",
            "50",
        ])
        .start();
    let client = client();
    let counted = wait_until(Duration::from_secs(10), || async {
        node.get_json(&client, "/v1/node").await.1["up_nodes"].as_u64() == Some(1)
    })
    .await;
    assert!(counted, "the node counted itself Up");
    let statuses = burst(std::slice::from_ref(&node), "big:1", 3100, 32).await;
    assert_eq!(count(&statuses, 200), 3000, "{statuses:?}");
    let (_, info) = node.get_json(&client, "/v1/node").await;
    let near = &info["near_cache"];
    assert!(near["leases"]["taken"].as_u64().unwrap() > 0, "{near}");
    assert!(near["decisions"]["denied"].as_u64().unwrap() > 0, "{near}");
    assert_eq!(info["failure_decisions"]["local"], 0, "{info}");

    let r = client
        .delete(node.url_for("/v1/counters/big:1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        node.check(&client, "big:1").await.0,
        200,
        "the reset is seen at once here"
    );
    let status = node.terminate().expect("exit status");
    assert!(status.success(), "{status:?}");
    let key = "ratelimit:c:{big:1}:big:3600000";
    let c = cluster.cmd(cluster.primary_of_key(key), &["HGET", key, "c"]);
    assert_eq!(c, "1", "the unspent lease (29 of 30) was given back");
}
