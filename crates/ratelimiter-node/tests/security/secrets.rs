//! API keys never in clear; nodes with one secret share a limit; a bounded counter reset.

use test_support::RedisServer;
use test_support::node::Readiness;

use super::support::{NodeProcess, policies_file, redis_conn};
use super::{all_redis_keys, client_from, get, tight_policies};

const API_KEY: &str = "sk-live-DO-NOT-LEAK-4242";
const SECRET: &str = "identifier-secret-for-tests";
const TOKEN: &str = "admin-token-for-tests";

fn node(redis: &RedisServer, id: &str, secret: &str, policies: &std::path::Path) -> NodeProcess {
    NodeProcess::builder(&redis.url(), id)
        .args(["--policies", policies.to_str().unwrap()])
        .env("RATELIMITER_IDENTIFIER_SECRET", secret)
        .env("RATELIMITER_ADMIN_TOKEN", TOKEN)
        .wait_for(Readiness::Ready)
        .start()
}

async fn admin_text(c: &reqwest::Client, url: &str) -> String {
    let r = c.get(url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200, "{url}");
    r.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_api_key_is_stored_listed_exported_or_logged_in_clear() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let policies = tight_policies(&dir, 3);
    let log = dir.path().join("node.log");
    let n = NodeProcess::builder(&redis.url(), "a")
        .args(["--policies", policies.to_str().unwrap()])
        .env("RATELIMITER_IDENTIFIER_SECRET", SECRET)
        .env("RATELIMITER_ADMIN_TOKEN", TOKEN)
        .env("RUST_LOG", "debug")
        .log_file(&log)
        .wait_for(Readiness::Ready)
        .start();
    let c = client_from("127.0.0.1");
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(
            get(&c, &n.url_for("/api/request"), &[("x-api-key", API_KEY)])
                .await
                .0,
        );
    }
    // /v1/check with the same key as an `api:` identifier counts on the same counter.
    let r = c
        .post(n.url_for("/v1/check"))
        .json(&serde_json::json!({"key": format!("api:{API_KEY}")}))
        .send()
        .await
        .unwrap();
    seen.push(r.status().as_u16());
    let body = r.text().await.unwrap();
    assert_eq!(seen, [200, 200, 200, 429], "one counter for both paths");
    assert!(!body.contains(API_KEY), "{body}");
    let keys = all_redis_keys(&mut redis_conn(&redis.url()));
    assert!(keys.iter().all(|k| !k.contains("sk-live")), "{keys:?}");
    let counter = keys
        .iter()
        .find(|k| k.contains("{api:fp-"))
        .expect("an api:fp- counter");
    let counters = admin_text(&c, &n.url_for("/v1/counters?prefix=api:")).await;
    assert!(
        counters.contains("api:fp-") && !counters.contains(API_KEY),
        "{counters}"
    );
    assert!(counters.contains(counter.as_str()), "{counters}");
    let metrics = get_text(&c, &n.url_for("/metrics")).await;
    assert!(!metrics.contains(API_KEY), "metrics");
    let info: serde_json::Value =
        serde_json::from_str(&admin_text(&c, &n.url_for("/v1/node")).await).unwrap();
    let digest = info["identifier_secret_digest"].as_str().expect("a digest");
    assert_eq!(digest.len(), 16);
    assert!(!info.to_string().contains(SECRET));
    // Reset by the key in clear: the node fingerprints it, and only shows the fingerprint.
    let r = c
        .delete(n.url_for(&format!("/v1/counters/api:{API_KEY}")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let reset: serde_json::Value = r.json().await.unwrap();
    assert_eq!(reset["deleted"], 1, "{reset}");
    assert_eq!(reset["redis_keys"][0], counter.as_str(), "{reset}");
    assert!(!reset.to_string().contains(API_KEY));
    drop(n); // flush the log
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("counters reset") && text.contains("api:fp-"),
        "the log names the key, as its fingerprint: {text}"
    );
    assert!(!text.contains(API_KEY) && !text.contains(SECRET), "{text}");
}

async fn get_text(c: &reqwest::Client, url: &str) -> String {
    c.get(url).send().await.unwrap().text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_with_one_secret_share_an_api_key_limit_and_another_secret_splits_it() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let policies = tight_policies(&dir, 4);
    let a = node(&redis, "a", SECRET, &policies);
    let b = node(&redis, "b", SECRET, &policies);
    let c = client_from("127.0.0.1");
    let mut seen = Vec::new();
    for i in 0..6 {
        let n = if i % 2 == 0 { &a } else { &b };
        seen.push(
            get(&c, &n.url_for("/api/request"), &[("x-api-key", API_KEY)])
                .await
                .0,
        );
    }
    assert_eq!(
        seen,
        [200, 200, 200, 200, 429, 429],
        "one limit across a and b"
    );
    let odd = node(&redis, "odd", "another-secret", &policies);
    let (status, _) = get(&c, &odd.url_for("/api/request"), &[("x-api-key", API_KEY)]).await;
    assert_eq!(
        status, 200,
        "a node with another secret counts apart: the limit splits"
    );
    let digest = |n: &NodeProcess| {
        let n = n.url_for("/v1/node");
        let c = c.clone();
        async move {
            let v: serde_json::Value = serde_json::from_str(&admin_text(&c, &n).await).unwrap();
            v["identifier_secret_digest"].as_str().unwrap().to_owned()
        }
    };
    assert_eq!(digest(&a).await, digest(&b).await);
    assert_ne!(
        digest(&a).await,
        digest(&odd).await,
        "the mismatch is visible"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_counter_removes_exactly_that_keys_windows_without_scanning() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let policies = policies_file(
        &dir,
        "[policies.default]\nwindows = [{ limit = 100, window_ms = 60000 }]\n\n\
         [policies.login]\nmatch = \"login:*\"\nwindows = [{ limit = 50, window_ms = 60000 }, { limit = 500, window_ms = 3600000 }]\n",
    );
    let n = node(&redis, "a", SECRET, &policies);
    let c = client_from("127.0.0.1");
    for key in ["login:1", "login:2", "login:10", "user:1", "login:*"] {
        let r = c
            .post(n.url_for("/v1/check"))
            .json(&serde_json::json!({"key": key}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{key}");
    }
    let mut conn = redis_conn(&redis.url());
    let before = all_redis_keys(&mut conn);
    let scans = |conn: &mut redis::Connection| -> u64 {
        let info: String = redis::cmd("INFO").arg("commandstats").query(conn).unwrap();
        info.lines()
            .find_map(|l| l.strip_prefix("cmdstat_scan:calls="))
            .and_then(|v| v.split(',').next())
            .map_or(0, |v| v.parse().unwrap())
    };
    let scans_before = scans(&mut conn);
    let r = c
        .delete(n.url_for("/v1/counters/login:1"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let reset: serde_json::Value = r.json().await.unwrap();
    assert_eq!(reset["deleted"], 2, "{reset}");
    assert_eq!(
        reset["candidates"], 3,
        "default's window and login's two: {reset}"
    );
    assert_eq!(
        reset["redis_keys"],
        serde_json::json!([
            "ratelimit:c:{login:1}:login:60000",
            "ratelimit:c:{login:1}:login:3600000"
        ])
    );
    assert_eq!(scans(&mut conn), scans_before, "no SCAN for a reset");
    let after = all_redis_keys(&mut conn);
    let mut gone: Vec<&String> = before.iter().filter(|k| !after.contains(k)).collect();
    gone.sort();
    assert_eq!(
        gone,
        vec![
            "ratelimit:c:{login:1}:login:3600000",
            "ratelimit:c:{login:1}:login:60000"
        ],
        "login:10, login:2, user:1 and the literal login:* keep their counters"
    );
    // A key with glob characters deletes its own counters, not everyone's.
    let r = c
        .delete(n.url_for("/v1/counters/login:*"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let reset: serde_json::Value = r.json().await.unwrap();
    assert_eq!(reset["deleted"], 2, "{reset}");
    assert_eq!(all_redis_keys(&mut conn).len(), after.len() - 2);
}
