//! The monitor reads GCRA buckets: a full bucket is fine, a `tat` past `tau` is
//! `over_admission`, a bucket without TTL is a stuck counter that the repair gives the longest
//! refill, and `reset_counter` deletes the bucket. Real `redis-server`, real node.

use std::time::{SystemTime, UNIX_EPOCH};

use operator_core::{History, InvariantChecker, Subject};
use operator_ratelimiter::{
    RateLimitAction, RateLimiterChecker, RateLimiterConfig, RateLimiterSubject,
};
use test_support::LocalStack;

const POLICIES: &str = r#"
[policies.default]
windows = [{ limit = 100, window_ms = 1000 }]

[policies.api]
match = "gk:*"
algorithm = "gcra"
windows = [{ limit = 10, window_ms = 1000, burst = 5 }]
"#;

const BUCKET: &str = "ratelimit:c:{gk:1}:api:gcra";

#[tokio::test(flavor = "multi_thread")]
async fn gcra_buckets_are_checked_for_over_admission_stuck_keys_and_reset() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policies.toml");
    std::fs::write(&file, POLICIES).unwrap();
    let file = file.to_str().unwrap().to_owned();
    let stack = LocalStack::start(1, |_| vec!["--policies".into(), file.clone()]);
    let s = RateLimiterSubject::new(RateLimiterConfig {
        redis_url: stack.redis.url(),
        nodes: stack.node_urls(),
        ..RateLimiterConfig::default()
    })
    .unwrap();
    let client = reqwest::Client::new();
    let check = || {
        client
            .post(format!("{}/v1/check", stack.node_urls()[0]))
            .json(&serde_json::json!({"key": "gk:1"}))
            .send()
    };
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(check().await.unwrap().status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429], "burst of 5");

    let checker = RateLimiterChecker::default();
    let o = s.observe().await.unwrap();
    let vs = checker.check(&o, &History::new(10));
    assert!(
        !vs.iter().any(|v| v.invariant == "over_admission"),
        "a full bucket is not over: {vs:?}"
    );

    // A tat 10 s ahead: 100 units in use against a burst of 5.
    let now_us = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros();
    let tat = (now_us + 10_000_000).to_string();
    stack.redis.cmd(&["HSET", BUCKET, "1000", &tat]);
    let o = s.observe().await.unwrap();
    let over = &o.redis.keys.as_ref().unwrap().over_admitted;
    assert_eq!(over.len(), 1, "{over:?}");
    assert_eq!((over[0].key.as_str(), over[0].limit), ("gk:1", 5));
    assert!((99..=100).contains(&over[0].count), "{over:?}");
    let vs = checker.check(&o, &History::new(10));
    let v = vs.iter().find(|v| v.invariant == "over_admission").unwrap();
    assert!(
        v.message.contains("gk:1") && v.message.contains("\"api\""),
        "{}",
        v.message
    );

    // Without its TTL the bucket is a stuck counter; the repair gives it the longest refill.
    stack.redis.cmd(&["PERSIST", BUCKET]);
    let o = s.observe().await.unwrap();
    let keys = o.redis.keys.as_ref().unwrap();
    assert_eq!(keys.stuck_total, 1, "{keys:?}");
    assert_eq!(keys.stuck[0].key, BUCKET);
    assert_eq!(keys.stuck[0].kind.to_string(), "counter");
    let report = s
        .execute(&RateLimitAction::RepairStuckKeys {})
        .await
        .unwrap();
    assert_eq!(report.details["repaired_total"], 1, "{report:?}");
    let ttl: i64 = stack
        .redis
        .cmd(&["PTTL", BUCKET])
        .trim_start_matches(':')
        .parse()
        .unwrap();
    assert!(ttl > 6 * 24 * 3_600_000, "{ttl}");

    let report = s
        .execute(&RateLimitAction::ResetCounter { key: "gk:1".into() })
        .await
        .unwrap();
    let shown = format!("{} {}", report.summary, report.details);
    assert!(shown.contains(BUCKET), "{shown}");
    assert_eq!(
        stack.redis.cmd(&["EXISTS", BUCKET]).trim_start_matches(':'),
        "0"
    );
    assert_eq!(
        check().await.unwrap().status().as_u16(),
        200,
        "a fresh bucket"
    );
}
