//! Concurrent decisions of one key, sent in one pipeline and coalesced into fewer script calls
//! (store `batch` and `coalesce`), stay exact: each request gets the answer it would have got
//! alone, and the limit is never passed.

mod support;

use support::{NodeApi, NodeProcess, client, policies_file, redis_conn};
use test_support::RedisServer;

const POLICIES: &str = r#"
[policies.default]
windows = [{ limit = 50, window_ms = 60000 }]

[policies.weighted]
match = "weighted:*"
windows = [{ limit = 25, window_ms = 60000 }]
"#;

fn script_calls(conn: &mut redis::Connection) -> u64 {
    let info: String = redis::cmd("INFO").arg("commandstats").query(conn).unwrap();
    info.lines()
        .filter(|l| l.starts_with("cmdstat_evalsha:") || l.starts_with("cmdstat_eval:"))
        .filter_map(|l| {
            l.split("calls=")
                .nth(1)?
                .split(',')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

/// `n` concurrent checks of `key` with `cost`: (status, remaining) of each.
async fn burst(node: &NodeProcess, key: &str, cost: u64, n: usize) -> Vec<(u16, u64)> {
    let client = client();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        let (client, url) = (client.clone(), node.url_for("/v1/check"));
        let body = serde_json::json!({"key": key, "cost": cost});
        tasks.spawn(async move {
            let r = client.post(url).json(&body).send().await.expect("check");
            let status = r.status().as_u16();
            let body: serde_json::Value = r.json().await.expect("json");
            (status, body["remaining"].as_u64().expect("remaining"))
        });
    }
    tasks.join_all().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_checks_of_one_key_are_coalesced_and_stay_exact() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let file = policies_file(&dir, POLICIES);
    let args = [
        "--policies",
        file.to_str().unwrap(),
        "--redis-timeout-ms",
        "5000",
    ];
    let node = NodeProcess::start(&redis.url(), "a", &args);
    let mut conn = redis_conn(&redis.url());
    let before = script_calls(&mut conn);

    let answers = burst(&node, "hot:1", 1, 400).await;
    let calls = script_calls(&mut conn) - before;
    let mut remaining: Vec<u64> = answers
        .iter()
        .filter(|(s, _)| *s == 200)
        .map(|(_, r)| *r)
        .collect();
    remaining.sort_unstable();
    assert_eq!(
        remaining,
        (0..50).collect::<Vec<_>>(),
        "exactly the limit admitted, each with its own remaining: {answers:?}"
    );
    assert!(
        answers
            .iter()
            .all(|(s, r)| *s == 200 || (*s == 429 && *r == 0)),
        "{answers:?}"
    );
    assert!(
        calls < 400,
        "400 concurrent checks of one key took {calls} script calls: none coalesced"
    );
    let (_, info) = node.get_json(&client(), "/v1/node").await;
    assert_eq!(info["failure_decisions"]["local"], 0, "{info}");

    // A weighted burst: cost 3 against 25, so 8 fit (24) and the rest are denied.
    let answers = burst(&node, "weighted:1", 3, 60).await;
    let mut remaining: Vec<u64> = answers
        .iter()
        .filter(|(s, _)| *s == 200)
        .map(|(_, r)| *r)
        .collect();
    remaining.sort_unstable();
    assert_eq!(remaining, vec![1, 4, 7, 10, 13, 16, 19, 22], "{answers:?}");
    let c: u64 = redis::cmd("HGET")
        .arg("ratelimit:c:{weighted:1}:weighted:60000")
        .arg("c")
        .query(&mut conn)
        .unwrap();
    assert_eq!(c, 24, "Redis counted what was admitted");
    let denied_remaining: Vec<u64> = answers
        .iter()
        .filter(|(s, _)| *s == 429)
        .map(|(_, r)| *r)
        .collect();
    assert!(
        denied_remaining.iter().all(|r| *r == 1),
        "{denied_remaining:?}"
    );
}
