//! The layout before the `{shared}` hash tag (`ratelimit:policies`, `ratelimit:nodes`) is
//! migrated by the first node that starts on it: the policies it held are served, under the new
//! names, with their TTL.

mod support;

use support::{NodeApi, NodeProcess, client};
use test_support::RedisServer;
use test_support::node::Readiness;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_moves_the_old_shared_keys_under_the_shared_tag_and_serves_their_policies() {
    let redis = RedisServer::start();
    let spec = r#"{"match":"old:*","windows":[{"limit":3,"window_ms":60000}]}"#;
    let default = r#"{"windows":[{"limit":100,"window_ms":60000}]}"#;
    let old = "ratelimit:policies";
    assert_eq!(
        redis.cmd(&[
            "HSET",
            old,
            "version",
            "7",
            "policy:legacy",
            spec,
            "policy:default",
            default
        ]),
        ":3"
    );
    assert_eq!(redis.cmd(&["PEXPIRE", old, "600000"]), ":1");
    assert_eq!(redis.cmd(&["HSET", "ratelimit:nodes", "gone", "{}"]), ":1");
    assert_eq!(redis.cmd(&["PEXPIRE", "ratelimit:nodes", "600000"]), ":1");

    let node = NodeProcess::builder(&redis.url(), "a")
        .wait_for(Readiness::Ready)
        .start();
    let client = client();
    let (status, body) = node.get_json(&client, "/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["policy_version"], 7,
        "the old policies, not a fresh seed: {body}"
    );
    for _ in 0..3 {
        assert_eq!(node.check(&client, "old:1").await.0, 200);
    }
    assert_eq!(
        node.check(&client, "old:1").await.0,
        429,
        "the legacy policy's limit"
    );

    assert_eq!(
        redis.cmd(&["EXISTS", old, "ratelimit:nodes"]),
        ":0",
        "old names gone"
    );
    let new = "ratelimit:{shared}:policies";
    assert_eq!(redis.cmd(&["HGET", new, "policy:legacy"]), spec);
    let ttl: i64 = redis
        .cmd(&["PTTL", new])
        .trim_start_matches(':')
        .parse()
        .unwrap();
    assert!(ttl > 0, "TTL kept: {ttl}");
    assert_eq!(
        redis.cmd(&["HEXISTS", "ratelimit:{shared}:nodes", "a"]),
        ":1"
    );
}
