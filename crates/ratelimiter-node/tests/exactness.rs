//! Exact shared limiting: concurrency across node processes, multiple windows, cost, and the
//! sliding window across a boundary, against a real Redis.

mod support;

use std::time::Duration;

use support::{NodeApi, NodeProcess, client, policies_file, redis_conn, redis_now_ms};
use test_support::RedisServer;

const POLICIES: &str = r#"
[policies.default]
windows = [{ limit = 100, window_ms = 60000 }]

[policies.multi]
match = "multi:*"
windows = [{ limit = 10, window_ms = 1000 }, { limit = 4, window_ms = 3600000 }]

[policies.minute]
match = "minute:*"
windows = [{ limit = 2, window_ms = 60000 }, { limit = 4, window_ms = 3600000 }]

[policies.weighted]
match = "weighted:*"
windows = [{ limit = 10, window_ms = 60000 }]

[policies.sliding]
match = "sliding:*"
windows = [{ limit = 10, window_ms = 2000 }]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_checks_over_three_nodes_admit_exactly_the_limit() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let file = policies_file(&dir, POLICIES);
    let file = file.to_str().unwrap();
    // A generous Redis timeout: on a loaded 2-core machine a 1,000-request burst can keep a
    // decision waiting past the default 50 ms, and a decision that times out goes to the `local`
    // failure mode, which is not what this test measures (the failure mode has its own tests).
    let args = ["--policies", file, "--redis-timeout-ms", "5000"];
    let nodes = [
        NodeProcess::start(&redis.url(), "a", &args),
        NodeProcess::start(&redis.url(), "b", &args),
        NodeProcess::start(&redis.url(), "c", &args),
    ];
    let client = client();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..1000 {
        let url = nodes[i % 3].url_for("/v1/check");
        let client = client.clone();
        tasks.spawn(async move {
            let r = client
                .post(url)
                .json(&serde_json::json!({"key": "hot:1"}))
                .send()
                .await
                .expect("check");
            r.status().as_u16()
        });
    }
    let statuses = tasks.join_all().await;
    let allowed = statuses.iter().filter(|s| **s == 200).count();
    let denied = statuses.iter().filter(|s| **s == 429).count();
    // Checked first: a decision taken by the failure mode would explain an inexact count.
    for node in &nodes {
        let (_, info) = node.get_json(&client, "/v1/node").await;
        assert_eq!(
            info["failure_decisions"]["local"], 0,
            "every decision went through redis: {info}"
        );
    }
    assert_eq!(
        (allowed, denied),
        (100, 900),
        "statuses other than 200/429: {:?}",
        statuses
            .iter()
            .filter(|s| **s != 200 && **s != 429)
            .collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_window_is_checked_and_consumed_and_the_denial_names_its_window() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let file = policies_file(&dir, POLICIES);
    let node = NodeProcess::start(&redis.url(), "a", &["--policies", file.to_str().unwrap()]);
    let client = client();

    // The hour window (4) is tighter than the second window (10).
    for _ in 0..4 {
        assert_eq!(node.check(&client, "multi:1").await.0, 200);
    }
    let (status, body) = node.check(&client, "multi:1").await;
    assert_eq!(status, 429);
    assert_eq!(
        (
            body["policy"].as_str(),
            body["window"].as_str(),
            body["limit"].as_u64()
        ),
        (Some("multi"), Some("1h"), Some(4))
    );
    assert!(body["retry_after_ms"].as_u64().unwrap() > 0);

    // The minute window (2) denies first, and the hour window was consumed as well.
    for _ in 0..2 {
        assert_eq!(node.check(&client, "minute:1").await.0, 200);
    }
    let (status, body) = node.check(&client, "minute:1").await;
    assert_eq!((status, body["window"].as_str()), (429, Some("1m")));
    let (_, page) = node
        .get_json(&client, "/v1/counters?prefix=minute:1&count=1000")
        .await;
    let mut seen: Vec<(u64, u64)> = Vec::new();
    let mut cursor = page;
    loop {
        for c in cursor["counters"].as_array().unwrap() {
            seen.push((
                c["window_ms"].as_u64().unwrap(),
                c["current"].as_u64().unwrap(),
            ));
        }
        let next = cursor["next_cursor"].as_str().unwrap().to_owned();
        if next == "0" {
            break;
        }
        cursor = node
            .get_json(
                &client,
                &format!("/v1/counters?prefix=minute:1&count=1000&cursor={next}"),
            )
            .await
            .1;
    }
    seen.sort_unstable();
    assert_eq!(
        seen,
        vec![(60_000, 2), (3_600_000, 2)],
        "both windows counted the two admitted requests, not the denied one"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cost_is_consumed_as_a_weight() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let file = policies_file(&dir, POLICIES);
    let node = NodeProcess::start(&redis.url(), "a", &["--policies", file.to_str().unwrap()]);
    let client = client();
    let (status, body) = node.check_cost(&client, "weighted:1", Some(7)).await;
    assert_eq!((status, body["remaining"].as_u64()), (200, Some(3)));
    let (status, body) = node.check_cost(&client, "weighted:1", Some(4)).await;
    assert_eq!(
        (status, body["remaining"].as_u64()),
        (429, Some(3)),
        "7 + 4 > 10, nothing consumed"
    );
    let (status, body) = node.check_cost(&client, "weighted:1", Some(3)).await;
    assert_eq!((status, body["remaining"].as_u64()), (200, Some(0)));
    assert_eq!(node.check(&client, "weighted:1").await.0, 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sliding_window_weights_the_previous_window_across_the_boundary() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let file = policies_file(&dir, POLICIES);
    let node = NodeProcess::start(&redis.url(), "a", &["--policies", file.to_str().unwrap()]);
    let client = client();
    let mut conn = redis_conn(&redis.url());
    const WIN: u64 = 2_000;

    // Fill the limit early in a window (by Redis time).
    wait_for_phase(&mut conn, WIN, 0, 300).await;
    let window = redis_now_ms(&mut conn) / WIN;
    let mut filled = 0;
    for _ in 0..12 {
        if node.check(&client, "sliding:1").await.0 == 200 {
            filled += 1;
        }
    }
    assert_eq!(filled, 10);
    assert_eq!(
        redis_now_ms(&mut conn) / WIN,
        window,
        "the fill stayed in one window (machine too slow?)"
    );

    // Halfway through the next window about half of the previous count still weighs.
    loop {
        wait_for_phase(&mut conn, WIN, 900, 1_050).await;
        if redis_now_ms(&mut conn) / WIN == window + 1 {
            break;
        }
        assert!(
            redis_now_ms(&mut conn) / WIN <= window + 1,
            "missed the next window"
        );
    }
    let mut allowed = 0;
    for _ in 0..10 {
        if node.check(&client, "sliding:1").await.0 == 200 {
            allowed += 1;
        }
    }
    assert!(
        (4..=6).contains(&allowed),
        "{allowed} admitted halfway into the next window; a sliding window admits about 5 (a fixed one 10)"
    );
}

/// Waits until Redis time is between `from` and `to` ms into a window of `win` ms.
async fn wait_for_phase(conn: &mut redis::Connection, win: u64, from: u64, to: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let phase = redis_now_ms(conn) % win;
        if (from..=to).contains(&phase) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never reached phase {from}..{to}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
