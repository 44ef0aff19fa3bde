//! Clock skew for real: `--clock-offset-ms` shifts the clock the node uses for its `local`
//! failure mode, and `/v1/node` reports that clock minus Redis `TIME` (`clock_skew_ms`).

mod support;

use std::time::Duration;

use support::{NodeApi, NodeProcess, client, redis_conn, redis_now_ms, wait_until};
use test_support::RedisServer;

async fn reported_skew(node: &NodeProcess) -> i64 {
    let client = client();
    let measured = wait_until(Duration::from_secs(10), || async {
        node.get_json(&client, "/v1/node").await.1["clock_skew_ms"].is_i64()
    })
    .await;
    assert!(measured, "clock_skew_ms never measured");
    node.get_json(&client, "/v1/node").await.1["clock_skew_ms"]
        .as_i64()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_reports_the_skew_of_the_clock_it_uses() {
    let redis = RedisServer::start();
    let shifted = NodeProcess::start(&redis.url(), "shifted", &["--clock-offset-ms", "-7000"]);
    let plain = NodeProcess::start(&redis.url(), "plain", &[]);
    let skew = reported_skew(&shifted).await;
    assert!(
        (-7_300..=-6_700).contains(&skew),
        "skew {skew} for an offset of -7000"
    );
    let skew = reported_skew(&plain).await;
    assert!(skew.abs() <= 300, "skew {skew} without an offset");

    // `now_ms` is the same clock.
    let (_, info) = shifted.get_json(&client(), "/v1/node").await;
    let now = i64::try_from(info["now_ms"].as_u64().unwrap()).unwrap();
    let redis_now = i64::try_from(redis_now_ms(&mut redis_conn(&redis.url()))).unwrap();
    assert!(
        (now - redis_now + 7_000).abs() <= 1_000,
        "{now} vs redis {redis_now}"
    );
    let metrics = client()
        .get(shifted.url_for("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("ratelimiter_clock_skew_seconds{node=\"shifted\"} -"),
        "{metrics}"
    );
}
