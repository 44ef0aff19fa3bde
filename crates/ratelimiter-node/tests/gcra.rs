//! GCRA policies (`"algorithm": "gcra"`) against a real Redis and real node processes: exact
//! under concurrency across nodes, the drip of one unit per emission interval, every window,
//! cost, `Retry-After`, the counters listing and a reset, TTLs, and a Redis Cluster.

mod support;

use std::time::{Duration, Instant};
use support::cluster::key_on;

use support::{NodeApi, NodeProcess, client, policies_file, redis_conn};
use test_support::{RedisCluster, RedisServer};

const POLICIES: &str = r#"
[policies.default]
windows = [{ limit = 100, window_ms = 60000 }]

[policies.issue]
match = "issue:*"
algorithm = "gcra"
windows = [{ limit = 100, window_ms = 600000 }]

[policies.multi]
match = "multi:*"
algorithm = "gcra"
windows = [{ limit = 10, window_ms = 1000 }, { limit = 4, window_ms = 3600000 }]

[policies.weighted]
match = "weighted:*"
algorithm = "gcra"
windows = [{ limit = 10, window_ms = 60000 }]

[policies.drip]
match = "drip:*"
algorithm = "gcra"
windows = [{ limit = 2, window_ms = 2000, burst = 1 }]
"#;

fn start(redis: &RedisServer, dir: &tempfile::TempDir, ids: &[&str]) -> Vec<NodeProcess> {
    let file = policies_file(dir, POLICIES);
    // A generous Redis timeout: a 1,000-request burst on a loaded 2-core machine must not push
    // decisions into the `local` failure mode, which is not what these tests measure.
    let args = [
        "--policies",
        file.to_str().unwrap(),
        "--redis-timeout-ms",
        "5000",
    ];
    ids.iter()
        .map(|id| NodeProcess::start(&redis.url(), id, &args))
        .collect()
}

/// A denied check: its body, and when it was sent and answered.
struct Denial {
    body: serde_json::Value,
    sent: Instant,
    answered: Instant,
}

impl Denial {
    fn retry(&self) -> Duration {
        Duration::from_millis(self.body["retry_after_ms"].as_u64().unwrap())
    }
}

/// `n` concurrent checks of `key`, spread over `nodes`: (admitted, denied, the denials).
async fn burst(nodes: &[NodeProcess], key: &str, n: usize) -> (usize, usize, Vec<Denial>) {
    let client = client();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let url = nodes[i % nodes.len()].url_for("/v1/check");
        let (client, key) = (client.clone(), key.to_owned());
        tasks.spawn(async move {
            let sent = Instant::now();
            let r = client
                .post(url)
                .json(&serde_json::json!({ "key": key }))
                .send()
                .await
                .expect("check");
            let status = r.status().as_u16();
            let body = r.json::<serde_json::Value>().await.expect("JSON");
            (
                status,
                Denial {
                    body,
                    sent,
                    answered: Instant::now(),
                },
            )
        });
    }
    let answers = tasks.join_all().await;
    let other: Vec<_> = answers
        .iter()
        .filter(|(s, _)| *s != 200 && *s != 429)
        .map(|(s, d)| (s, &d.body))
        .collect();
    assert!(other.is_empty(), "statuses other than 200/429: {other:?}");
    for (_, d) in &answers {
        assert!(
            d.body.get("degraded").is_none(),
            "decided without redis: {}",
            d.body
        );
    }
    let admitted = answers.iter().filter(|(s, _)| *s == 200).count();
    let denials = answers
        .into_iter()
        .filter(|(s, _)| *s == 429)
        .map(|(_, d)| d)
        .collect::<Vec<_>>();
    (admitted, denials.len(), denials)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_issue_policy_admits_exactly_100_over_three_nodes_then_one_more_6_s_later() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let nodes = start(&redis, &dir, &["a", "b", "c"]);
    let (admitted, denied, denials) = burst(&nodes, "issue:1", 1000).await;
    assert_eq!((admitted, denied), (100, 900));
    // Every denial names the same moment for the next unit (6 s after the first admission):
    // decided between sending and answering, its retry-after rounded up to the ms, so that
    // moment is after every `sent + retry − 1 ms` and at or before every `answered + retry`.
    assert!(denials.iter().all(|d| d.retry() <= Duration::from_secs(6)));
    let after = denials.iter().map(|d| d.sent + d.retry()).max().unwrap();
    let before = denials
        .iter()
        .map(|d| d.answered + d.retry())
        .min()
        .unwrap();
    let ms = Duration::from_millis(1);
    assert!(
        after <= before + ms,
        "denials disagree by {:?}",
        after - before
    );
    let last = &denials[0].body;
    assert_eq!(
        (last["limit"].as_u64(), last["window"].as_str()),
        (Some(100), Some("10m"))
    );
    // A second before the drip nothing more; just after it, exactly one of many.
    tokio::time::sleep_until((after - Duration::from_secs(1)).into()).await;
    assert_eq!(burst(&nodes, "issue:1", 30).await.0, 0, "not yet 6 s");
    tokio::time::sleep_until((before + 20 * ms).into()).await;
    assert_eq!(
        burst(&nodes, "issue:1", 60).await.0,
        1,
        "one unit every 6 s"
    );

    let mut conn = redis_conn(&redis.url());
    let key = "ratelimit:c:{issue:1}:issue:gcra";
    let ttl: i64 = redis::cmd("PTTL").arg(key).query(&mut conn).unwrap();
    assert!(
        (590_000..=600_000).contains(&ttl),
        "TTL = time until full: {ttl}"
    );
    let kind: String = redis::cmd("TYPE").arg(key).query(&mut conn).unwrap();
    assert_eq!(kind, "hash");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_window_cost_the_counters_listing_and_a_reset() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let nodes = start(&redis, &dir, &["a"]);
    let node = &nodes[0];
    let client = client();

    // The hour window (4) is tighter than the second window (10).
    for _ in 0..4 {
        assert_eq!(node.check(&client, "multi:1").await.0, 200);
    }
    let (status, body) = node.check(&client, "multi:1").await;
    assert_eq!(status, 429);
    assert_eq!(
        (
            body["window"].as_str(),
            body["limit"].as_u64(),
            body["remaining"].as_u64()
        ),
        (Some("1h"), Some(4), Some(0))
    );
    let retry = body["retry_after_ms"].as_u64().unwrap();
    assert!(
        (895_000..=900_000).contains(&retry),
        "one unit of 4 per hour: {retry}"
    );

    // Cost: 7 of 10, then 4 is one unit (6 s) short, then 3 empties the bucket.
    assert_eq!(node.check_cost(&client, "weighted:1", Some(7)).await.0, 200);
    let (status, body) = node.check_cost(&client, "weighted:1", Some(4)).await;
    assert_eq!(status, 429);
    let retry = body["retry_after_ms"].as_u64().unwrap();
    assert!((5_500..=6_000).contains(&retry), "{retry}");
    let (status, body) = node.check_cost(&client, "weighted:1", Some(3)).await;
    assert_eq!((status, body["remaining"].as_u64()), (200, Some(0)));
    let reset = body["reset_after_ms"].as_u64().unwrap();
    assert!(
        (59_000..=60_000).contains(&reset),
        "full again in 60 s: {reset}"
    );
    let (status, _) = node.check_cost(&client, "weighted:1", Some(11)).await;
    assert_eq!(status, 400, "a cost above the burst can never pass");

    // The listing shows the bucket's windows, with their tat, and its TTL.
    let (_, page) = node
        .get_json(&client, "/v1/counters?prefix=multi:1&count=1000")
        .await;
    let mut seen: Vec<(u64, String)> = page["counters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert!(c["tat_us"].as_u64().unwrap() > 0, "{c}");
            assert!(c["ttl_ms"].as_i64().unwrap() > 0, "{c}");
            (
                c["window_ms"].as_u64().unwrap(),
                c["algorithm"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![(1_000, "gcra".into()), (3_600_000, "gcra".into())]
    );

    // A reset deletes the one bucket; the key starts afresh.
    let r = client
        .delete(node.url_for("/v1/counters/weighted:1"))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        body["redis_keys"],
        serde_json::json!(["ratelimit:c:{weighted:1}:weighted:gcra"])
    );
    assert_eq!(
        node.check_cost(&client, "weighted:1", Some(10)).await.0,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_right_within_a_few_ms_and_headers_count_the_bucket() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let nodes = start(&redis, &dir, &["a"]);
    let node = &nodes[0];
    let client = client();

    // burst 1, 2 per 2 s: one unit every second.
    let first = Instant::now();
    assert_eq!(node.check(&client, "drip:1").await.0, 200);
    let r = client
        .post(node.url_for("/v1/check"))
        .json(&serde_json::json!({"key": "drip:1"}))
        .send()
        .await
        .unwrap();
    let denied_at = Instant::now();
    assert_eq!(r.status(), 429);
    let header = |n: &str| r.headers()[n].to_str().unwrap().to_owned();
    assert_eq!(header("ratelimit-policy"), "\"drip/2s\";q=1;w=2");
    assert_eq!(header("ratelimit"), "\"drip/2s\";r=0;t=1");
    assert_eq!(header("retry-after"), "1");
    let body: serde_json::Value = r.json().await.unwrap();
    let retry = body["retry_after_ms"].as_u64().unwrap();
    // Exact: 1 s after the admission, less the time between the two decisions (at most the
    // time between sending the first check and reading the denial).
    let between = u64::try_from(denied_at.duration_since(first).as_millis()).unwrap();
    assert!(
        (1_000 - between - 1..=1_000).contains(&retry),
        "{retry} ({between} ms apart)"
    );
    let at = |ms: i64| {
        let target =
            Duration::from_millis(u64::try_from(i64::try_from(retry).unwrap() + ms).unwrap());
        tokio::time::sleep(target.saturating_sub(denied_at.elapsed()))
    };
    at(-200).await;
    assert_eq!(node.check(&client, "drip:1").await.0, 429, "200 ms early");
    at(5).await;
    assert_eq!(node.check(&client, "drip:1").await.0, 200, "5 ms late");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_the_algorithm_starts_afresh_and_bad_algorithms_are_refused() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let nodes = start(&redis, &dir, &["a"]);
    let node = &nodes[0];
    let client = client();
    let put = |body: serde_json::Value| {
        let client = client.clone();
        let url = node.url_for("/v1/policies/swap");
        async move {
            let r = client.put(url).json(&body).send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<serde_json::Value>().await.unwrap())
        }
    };
    let windows = serde_json::json!([{"limit": 2, "window_ms": 60000}]);
    let sliding = serde_json::json!({"match": "swap:*", "windows": windows});
    assert_eq!(put(sliding).await.0, 200);
    for _ in 0..2 {
        assert_eq!(node.check(&client, "swap:1").await.0, 200);
    }
    assert_eq!(node.check(&client, "swap:1").await.0, 429);
    let gcra = serde_json::json!({"match": "swap:*", "algorithm": "gcra", "windows": windows});
    let (status, body) = put(gcra).await;
    assert_eq!(
        (status, body["policy"]["algorithm"].as_str()),
        (200, Some("gcra"))
    );
    assert_eq!(
        node.check(&client, "swap:1").await.0,
        200,
        "a new bucket, full"
    );

    let (status, body) =
        put(serde_json::json!({"match": "swap:*", "algorithm": "leaky", "windows": windows})).await;
    assert_eq!(status, 400);
    assert!(body["detail"].as_str().unwrap().contains("gcra"), "{body}");
    let burst_on_sliding = serde_json::json!({"match": "swap:*", "windows": [{"limit": 2, "window_ms": 1000, "burst": 5}]});
    let (status, body) = put(burst_on_sliding).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_policy"))
    );
    assert!(body["detail"].as_str().unwrap().contains("burst"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_redis_cluster_buckets_on_every_primary_are_exact_and_expire() {
    let cluster = RedisCluster::start();
    let dir = tempfile::tempdir().unwrap();
    let file = policies_file(&dir, POLICIES);
    let args = [
        "--redis-mode",
        "cluster",
        "--policies",
        file.to_str().unwrap(),
        "--redis-timeout-ms",
        "5000",
    ];
    let nodes: Vec<NodeProcess> = ["a", "b", "c"]
        .iter()
        .map(|id| NodeProcess::start(&cluster.seed_urls(), id, &args))
        .collect();
    // One key on each primary.
    let mut keys: Vec<String> = cluster
        .primaries()
        .iter()
        .map(|(port, _)| key_on(&cluster, "issue:", *port, false))
        .collect();
    keys.sort();
    assert_eq!(keys.len(), 3);
    for key in &keys {
        let (admitted, denied, _) = burst(&nodes, key, 150).await;
        assert_eq!((admitted, denied), (100, 50), "{key}");
    }
    let client = client();
    let mut cursor = "0".to_owned();
    let mut seen = Vec::new();
    loop {
        let path = format!("/v1/counters?prefix=issue:&count=1000&cursor={cursor}");
        let (status, page) = nodes[0].get_json(&client, &path).await;
        assert_eq!(status, 200, "{page}");
        for c in page["counters"].as_array().unwrap() {
            let ttl = c["ttl_ms"].as_i64().unwrap();
            assert!((590_000..=600_000).contains(&ttl), "{c}");
            seen.push(c["key"].as_str().unwrap().to_owned());
        }
        cursor = page["next_cursor"].as_str().unwrap().to_owned();
        if cursor == "0" {
            break;
        }
    }
    seen.sort();
    assert_eq!(seen, keys, "one bucket per key, listed from every primary");
}
