//! What the node leaves in Redis: every key under the prefix has a TTL, and decisions survive
//! `SCRIPT FLUSH`.

mod support;

use support::{NodeApi, NodeProcess, client, policies_file, redis_conn};
use test_support::RedisServer;

const POLICIES: &str = r#"
[policies.default]
windows = [{ limit = 5, window_ms = 1000 }]

[policies.login]
match = "login:*"
windows = [{ limit = 3, window_ms = 500 }, { limit = 10, window_ms = 3600000 }]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_mixed_load_no_key_under_the_prefix_lacks_a_ttl() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let file = policies_file(&dir, POLICIES);
    let file = file.to_str().unwrap();
    let a = NodeProcess::start(&redis.url(), "a", &["--policies", file]);
    let b = NodeProcess::start(&redis.url(), "b", &["--policies", file]);
    let client = client();
    let keys = [
        "user:1",
        "user:{2}",
        "login:alice",
        "login:%bob%",
        "weird key\twith\ttabs",
        "ünï:ç",
    ];
    for round in 0..20u64 {
        for (i, key) in keys.iter().enumerate() {
            let node = if (round as usize + i).is_multiple_of(2) {
                &a
            } else {
                &b
            };
            let (status, _) = node.check_cost(&client, key, Some(1 + round % 2)).await;
            assert!(status == 200 || status == 429, "{status}");
        }
    }
    let r = client
        .put(a.url_for("/v1/policies/api"))
        .json(&serde_json::json!({"match": "api:*", "windows": [{"limit": 2, "window_ms": 1000}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = client
        .get(a.url_for("/api/request"))
        .header("X-API-Key", "k1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = client
        .delete(a.url_for("/v1/counters/user:1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let mut conn = redis_conn(&redis.url());
    let names: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut conn).unwrap();
    assert!(names.len() > 5, "{names:?}");
    for name in &names {
        assert!(
            name.starts_with("ratelimit:"),
            "{name} is outside the prefix"
        );
        let ttl: i64 = redis::cmd("PTTL").arg(name).query(&mut conn).unwrap();
        assert!(ttl > 0, "{name} has no TTL ({ttl})");
    }
    // And through the API, page by page.
    let mut cursor = "0".to_owned();
    let mut seen = 0;
    loop {
        let (status, page) = a
            .get_json(&client, &format!("/v1/counters?count=2&cursor={cursor}"))
            .await;
        assert_eq!(status, 200);
        for c in page["counters"].as_array().unwrap() {
            assert!(c["ttl_ms"].as_i64().unwrap() > 0, "{c}");
            seen += 1;
        }
        cursor = page["next_cursor"].as_str().unwrap().to_owned();
        if cursor == "0" {
            break;
        }
    }
    let counters = names
        .iter()
        .filter(|n| n.starts_with("ratelimit:c:"))
        .count();
    assert_eq!(seen, counters, "the paginated listing sees every counter");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_keep_working_after_script_flush() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let file = policies_file(&dir, POLICIES);
    let node = NodeProcess::start(&redis.url(), "a", &["--policies", file.to_str().unwrap()]);
    let client = client();
    let mut allowed = 0;
    for i in 0..10 {
        if i == 3 || i == 6 {
            assert_eq!(redis.cmd(&["SCRIPT", "FLUSH"]), "+OK");
        }
        let (status, body) = node.check(&client, "flush:1").await;
        assert!(
            body.get("degraded").is_none(),
            "decided without redis after SCRIPT FLUSH: {body}"
        );
        if status == 200 {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 5, "exact limiting across script flushes");
    let (_, info) = node.get_json(&client, "/v1/node").await;
    assert_eq!(info["failure_decisions"]["local"], 0);
}
