//! The circuit breaker against a Redis that answers reads but not writes: only a successful
//! decision closes it, so `CLIENT PAUSE WRITE` and a read-only replica keep it open (decisions
//! go to the failure mode at once instead of waiting for the timeout each), and it closes
//! after recovery.

mod support;

use std::time::{Duration, Instant};

use support::{NodeApi, NodeProcess, client, wait_until};
use test_support::RedisServer;

const FLAGS: &[&str] = &["--failure-mode", "local", "--redis-timeout-ms", "50"];

/// `n` sequential decisions, `gap` apart: how many took 40 ms or more (waited for the Redis
/// timeout), and how many were degraded.
async fn decide_many(node: &NodeProcess, n: usize, gap: Duration) -> (usize, usize) {
    let client = client();
    let (mut slow, mut degraded) = (0, 0);
    for i in 0..n {
        let start = Instant::now();
        let (status, body) = node.check(&client, &format!("k{}", i % 7)).await;
        assert!(status == 200 || status == 429, "{status} {body}");
        if start.elapsed() >= Duration::from_millis(40) {
            slow += 1;
        }
        if body.get("degraded").is_some() {
            degraded += 1;
        }
        tokio::time::sleep(gap).await;
    }
    (slow, degraded)
}

async fn skipped(node: &NodeProcess) -> u64 {
    node.get_json(&client(), "/v1/node").await.1["redis_skipped"]
        .as_u64()
        .expect("redis_skipped")
}

async fn recovers(node: &NodeProcess) -> bool {
    let client = client();
    wait_until(Duration::from_secs(10), || async {
        node.check(&client, "after")
            .await
            .1
            .get("degraded")
            .is_none()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_pause_write_keeps_the_breaker_open_until_writes_resume() {
    let redis = RedisServer::start();
    let node = NodeProcess::start(&redis.url(), "pause", FLAGS);
    assert!(recovers(&node).await, "not deciding with redis at start");
    assert_eq!(redis.cmd(&["CLIENT", "PAUSE", "6000", "WRITE"]), "+OK");
    // 60 decisions over 3 s: PINGs, policy polls and heartbeats' reads all answer meanwhile.
    let (slow, degraded) = decide_many(&node, 60, Duration::from_millis(50)).await;
    assert_eq!(
        degraded, 60,
        "every decision by the failure mode while writes are paused"
    );
    assert!(
        slow <= 6,
        "{slow} of 60 decisions waited for the timeout: the breaker did not stay open"
    );
    assert!(skipped(&node).await >= 50);
    assert_eq!(redis.cmd(&["CLIENT", "UNPAUSE"]), "+OK");
    assert!(
        recovers(&node).await,
        "breaker still open after writes resumed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_refuses_writes_keeps_the_breaker_open() {
    let primary = RedisServer::start();
    let redis = RedisServer::start();
    let node = NodeProcess::start(&redis.url(), "replica", FLAGS);
    assert!(recovers(&node).await, "not deciding with redis at start");
    let port = primary.port().to_string();
    assert_eq!(redis.cmd(&["REPLICAOF", "127.0.0.1", &port]), "+OK");
    let before = skipped(&node).await;
    let (_, degraded) = decide_many(&node, 60, Duration::from_millis(50)).await;
    assert_eq!(degraded, 60, "a read-only replica decided nothing");
    let skipped_now = skipped(&node).await - before;
    assert!(
        skipped_now >= 50,
        "only {skipped_now} of 60 decisions skipped redis: the breaker flapped on reads"
    );
    assert_eq!(redis.cmd(&["REPLICAOF", "NO", "ONE"]), "+OK");
    assert!(
        recovers(&node).await,
        "breaker still open after the failover back"
    );
}
