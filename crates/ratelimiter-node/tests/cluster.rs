//! Several nodes: policy changes through one node reach the others, and the registry shows
//! nodes Up, Down after a crash, and gone after a graceful shutdown.

mod support;

use std::time::{Duration, Instant};

use support::{NodeApi, NodeProcess, client, wait_until};
use test_support::RedisServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_change_through_one_node_is_enforced_by_the_others_within_a_second() {
    let redis = RedisServer::start();
    let a = NodeProcess::start(&redis.url(), "a", &[]);
    let b = NodeProcess::start(&redis.url(), "b", &[]);
    let client = client();
    let r = client
        .put(a.url_for("/v1/policies/login"))
        .json(
            &serde_json::json!({"match": "login:*", "windows": [{"limit": 2, "window_ms": 60000}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let put_at = Instant::now();
    let version = r.json::<serde_json::Value>().await.unwrap()["version"]
        .as_u64()
        .unwrap();
    let seen = wait_until(Duration::from_secs(5), || async {
        b.get_json(&client, "/v1/node").await.1["policy_version"].as_u64() == Some(version)
    })
    .await;
    let took = put_at.elapsed();
    assert!(seen, "node b never loaded version {version}");
    assert!(
        took < Duration::from_millis(1500),
        "node b took {took:?} to load the change (poll every 250 ms)"
    );
    let statuses: Vec<u16> = [
        b.check(&client, "login:x").await.0,
        b.check(&client, "login:x").await.0,
        b.check(&client, "login:x").await.0,
    ]
    .to_vec();
    assert_eq!(
        statuses,
        vec![200, 200, 429],
        "b enforces the limit set through a"
    );
    let (_, pa) = a.get_json(&client, "/v1/policies").await;
    let (_, pb) = b.get_json(&client, "/v1/policies").await;
    assert_eq!(pa["digest"], pb["digest"]);

    let r = client
        .delete(b.url_for("/v1/policies/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let gone = wait_until(Duration::from_secs(5), || async {
        a.get_json(&client, "/v1/policies/login").await.0 == 404
    })
    .await;
    assert!(gone, "the deletion reached node a");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_shows_crashed_nodes_down_and_forgets_stopped_ones() {
    let redis = RedisServer::start();
    let a = NodeProcess::start(&redis.url(), "a", &[]);
    let mut b = NodeProcess::start(&redis.url(), "b", &[]);
    let mut c = NodeProcess::start(&redis.url(), "c", &[]);
    let client = client();
    let states = |body: &serde_json::Value| -> Vec<(String, String)> {
        body["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                (
                    n["id"].as_str().unwrap().to_owned(),
                    n["state"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let all_up = wait_until(Duration::from_secs(10), || async {
        states(&a.get_json(&client, "/v1/nodes").await.1)
            == [("a", "Up"), ("b", "Up"), ("c", "Up")].map(|(x, y)| (x.to_owned(), y.to_owned()))
    })
    .await;
    assert!(all_up, "{:?}", a.get_json(&client, "/v1/nodes").await.1);
    let up_seen = wait_until(Duration::from_secs(5), || async {
        a.get_json(&client, "/v1/node").await.1["up_nodes"] == 3
    })
    .await;
    assert!(up_seen);

    b.kill();
    let status = c.terminate();
    assert!(
        status.is_some_and(|s| s.success()),
        "graceful shutdown exits 0: {status:?}"
    );
    let settled = wait_until(Duration::from_secs(10), || async {
        states(&a.get_json(&client, "/v1/nodes").await.1)
            == [("a", "Up"), ("b", "Down")].map(|(x, y)| (x.to_owned(), y.to_owned()))
    })
    .await;
    assert!(settled, "{:?}", a.get_json(&client, "/v1/nodes").await.1);
}
