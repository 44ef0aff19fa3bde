//! The rate limiter's typed actions on the real stack (real `redis-server`, real nodes): each one
//! repairs what it says, reports what it changed, and changes nothing the second time.

use std::time::Duration;

use operator_core::Subject;
use operator_ratelimiter::{RateLimitAction, RateLimiterConfig, RateLimiterSubject};
use test_support::http;
use test_support::{LocalStack, wait_for};

fn subject(stack: &LocalStack) -> RateLimiterSubject {
    RateLimiterSubject::new(RateLimiterConfig {
        redis_url: stack.redis.url(),
        nodes: stack.node_urls(),
        ..RateLimiterConfig::default()
    })
    .unwrap()
}

fn pttl(stack: &LocalStack, key: &str) -> i64 {
    stack
        .redis
        .cmd(&["PTTL", key])
        .trim_start_matches(':')
        .parse()
        .unwrap()
}

fn check(stack: &LocalStack, key: &str) -> u16 {
    http::request(
        stack.nodes[0].port,
        "POST",
        "/v1/check",
        Some(&format!(r#"{{"key": "{key}"}}"#)),
    )
    .unwrap()
    .0
}

#[tokio::test(flavor = "multi_thread")]
async fn repair_stuck_keys_gives_each_key_the_ttl_its_kind_needs() {
    let stack = LocalStack::start(1, |_| vec![]);
    let s = subject(&stack);
    let counter = "ratelimit:c:{user:7}:default:1000";
    stack.redis.cmd(&["SET", "ratelimit:junk", "1"]);
    stack
        .redis
        .cmd(&["HSET", counter, "w", "1", "c", "1", "p", "0"]);
    assert_eq!(
        (pttl(&stack, "ratelimit:junk"), pttl(&stack, counter)),
        (-1, -1)
    );

    let report = s
        .execute(&RateLimitAction::RepairStuckKeys {})
        .await
        .unwrap();
    assert!(report.changed, "{report:?}");
    assert_eq!(report.details["repaired_total"], 2, "{report:?}");
    assert_eq!(
        report.details["repaired"].as_array().unwrap().len(),
        2,
        "{report:?}"
    );
    assert!(
        (1..=2_000).contains(&pttl(&stack, counter)),
        "a counter lives twice its window"
    );
    assert!((1..=24 * 3_600_000).contains(&pttl(&stack, "ratelimit:junk")));

    let again = s
        .execute(&RateLimitAction::RepairStuckKeys {})
        .await
        .unwrap();
    assert!(!again.changed, "idempotent: {again:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn reset_counter_deletes_one_keys_counters_only() {
    let stack = LocalStack::start(1, |_| vec![]);
    let s = subject(&stack);
    check(&stack, "user:reset");
    check(&stack, "user:other");
    let key = "ratelimit:c:{user:reset}:default:1000";
    assert_eq!(stack.redis.cmd(&["EXISTS", key]), ":1");

    let report = s
        .execute(&RateLimitAction::ResetCounter {
            key: "user:reset".into(),
        })
        .await
        .unwrap();
    assert!(
        report.changed && report.summary.contains("deleted 1 counter"),
        "{report:?}"
    );
    assert_eq!(stack.redis.cmd(&["EXISTS", key]), ":0");
    assert_eq!(
        stack
            .redis
            .cmd(&["EXISTS", "ratelimit:c:{user:other}:default:1000"]),
        ":1",
        "other keys untouched"
    );
    assert!(
        !s.execute(&RateLimitAction::ResetCounter {
            key: "user:reset".into()
        })
        .await
        .unwrap()
        .changed
    );
    let empty = s
        .execute(&RateLimitAction::ResetCounter { key: String::new() })
        .await;
    assert!(empty.unwrap_err().to_string().contains("key"));
}

#[tokio::test(flavor = "multi_thread")]
async fn update_policy_changes_the_limit_every_node_enforces() {
    let stack = LocalStack::start(2, |_| vec![]);
    let s = subject(&stack);
    let action = RateLimitAction::UpdatePolicy {
        name: "default".into(),
        limit: 3,
        window_ms: 60_000,
    };
    let report = s.execute(&action).await.unwrap();
    assert!(report.changed, "{report:?}");
    let version = report.details["version"].as_u64().unwrap();
    let converged = wait_for(Duration::from_secs(5), || {
        stack.nodes.iter().all(|n| {
            let (_, body) = http::get(n.port, "/v1/node").unwrap();
            serde_json::from_str::<serde_json::Value>(&body).unwrap()["policy_version"].as_u64()
                >= Some(version)
        })
    });
    assert!(converged, "every node reloads the new version");
    let statuses: Vec<u16> = (0..4).map(|_| check(&stack, "upd:x")).collect();
    assert_eq!(statuses, [200, 200, 200, 429]);
    assert!(!s.execute(&action).await.unwrap().changed, "idempotent");
    let unknown = s
        .execute(&RateLimitAction::UpdatePolicy {
            name: "nope".into(),
            limit: 1,
            window_ms: 1000,
        })
        .await;
    assert!(unknown.unwrap_err().to_string().contains("known: default"));
}

#[tokio::test(flavor = "multi_thread")]
async fn reseed_policies_restores_the_last_set_seen_even_with_every_node_frozen() {
    let stack = LocalStack::start(2, |_| vec![]);
    let s = subject(&stack);
    assert!(
        !s.execute(&RateLimitAction::ReseedPolicies {})
            .await
            .unwrap()
            .changed,
        "present: nothing to do"
    );
    let before = stack
        .redis
        .cmd(&["HGET", "ratelimit:{shared}:policies", "policy:default"]);
    assert!(before.contains("\"windows\""), "{before}");
    s.observe().await.unwrap(); // the subject remembers the valid set it saw

    for n in &stack.nodes {
        n.signal(19); // SIGSTOP: no node can restore them
    }
    assert_eq!(
        stack.redis.cmd(&["DEL", "ratelimit:{shared}:policies"]),
        ":1"
    );
    let report = s.execute(&RateLimitAction::ReseedPolicies {}).await;
    for n in &stack.nodes {
        n.signal(18); // SIGCONT
    }
    let report = report.unwrap();
    assert!(report.changed, "{report:?}");
    assert_eq!(
        stack
            .redis
            .cmd(&["HGET", "ratelimit:{shared}:policies", "policy:default"]),
        before
    );
    assert!(
        pttl(&stack, "ratelimit:{shared}:policies") > 0,
        "the restored set has its TTL"
    );
    assert!(
        !s.execute(&RateLimitAction::ReseedPolicies {})
            .await
            .unwrap()
            .changed
    );
}

/// Runs `script` (Lua, no keys) on the stack's Redis: bulk writes in one round trip.
fn eval(stack: &LocalStack, script: &str) -> String {
    stack.redis.cmd(&["EVAL", script, "0"])
}

#[tokio::test(flavor = "multi_thread")]
async fn five_thousand_stuck_keys_are_repaired_in_bounded_batches_and_counted() {
    let stack = LocalStack::start(1, |_| vec![]);
    let s = subject(&stack);
    eval(
        &stack,
        "for i = 1, 5000 do redis.call('SET', 'ratelimit:junk:' .. i, '1') end \
         for i = 1, 100 do redis.call('SET', 'ratelimit:fine:' .. i, '1', 'PX', 600000) end \
         return 1",
    );
    let report = s
        .execute(&RateLimitAction::RepairStuckKeys {})
        .await
        .unwrap();
    let d = &report.details;
    assert_eq!(d["repaired_total"], 5_000, "{d}");
    assert_eq!(d["stuck"], 5_000, "{d}");
    assert!(d["scanned"].as_u64().unwrap() >= 5_100, "{d}");
    assert!(d["largest_batch"].as_u64().unwrap() <= 500, "bounded: {d}");
    assert!(d["batches"].as_u64().unwrap() >= 11, "{d}");
    assert_eq!(
        d["repaired"].as_array().unwrap().len(),
        20,
        "the list is capped"
    );
    assert!(
        report.summary.contains("gave a TTL to 5000 keys"),
        "{}",
        report.summary
    );
    let left = eval(
        &stack,
        "local n = 0 for i = 1, 5000 do \
         if redis.call('PTTL', 'ratelimit:junk:' .. i) == -1 then n = n + 1 end end return n",
    );
    assert_eq!(left, ":0", "every stuck key has a TTL now");
    assert!(
        (1..=600_000).contains(&pttl(&stack, "ratelimit:fine:1")),
        "keys with a TTL keep theirs"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn reset_counter_deletes_the_windows_its_policies_name_and_no_same_prefix_key() {
    let stack = LocalStack::start(1, |_| vec![]);
    let s = subject(&stack);
    // A second window on the default policy: a key now has two counters.
    let report = s
        .execute(&RateLimitAction::UpdatePolicy {
            name: "default".into(),
            limit: 100,
            window_ms: 60_000,
        })
        .await
        .unwrap();
    assert!(report.changed, "{report:?}");
    let counter = |key: &str, window: u64| format!("ratelimit:c:{{{key}}}:default:{window}");
    for key in ["user:reset", "user:reset-2", "user:rese"] {
        for window in [1_000, 60_000] {
            stack
                .redis
                .cmd(&["HSET", &counter(key, window), "w", "1", "c", "1", "p", "0"]);
            stack
                .redis
                .cmd(&["PEXPIRE", &counter(key, window), "120000"]);
        }
    }
    let report = s
        .execute(&RateLimitAction::ResetCounter {
            key: "user:reset".into(),
        })
        .await
        .unwrap();
    assert!(report.changed, "{report:?}");
    assert_eq!(report.details["deleted_total"], 2, "{report:?}");
    assert_eq!(report.details["checked"], 2, "{report:?}");
    for window in [1_000, 60_000] {
        assert_eq!(
            stack.redis.cmd(&["EXISTS", &counter("user:reset", window)]),
            ":0"
        );
        for other in ["user:reset-2", "user:rese"] {
            assert_eq!(
                stack.redis.cmd(&["EXISTS", &counter(other, window)]),
                ":1",
                "{other} keeps its counters"
            );
        }
    }
    let clear = s
        .execute(&RateLimitAction::ResetCounter {
            key: "api:sk-live-0123".into(),
        })
        .await
        .unwrap_err()
        .to_string();
    assert!(
        clear.contains("fingerprint") && !clear.contains("sk-live"),
        "{clear}"
    );
}
