//! No API key in clear leaves the monitor: a counter an older node wrote with the key in its
//! name (and no TTL) shows as `api:***` in the observation, in the ticket's evidence and in the
//! repair's report, and still gets its TTL. Real `redis-server`, real node.

use operator_core::{History, InvariantChecker, Subject};
use operator_ratelimiter::{
    RateLimitAction, RateLimiterChecker, RateLimiterConfig, RateLimiterSubject,
};
use test_support::LocalStack;

const SECRET: &str = "sk-live-d0-not-show";

#[tokio::test(flavor = "multi_thread")]
async fn a_stuck_counter_of_an_api_key_in_clear_is_shown_hidden_and_repaired() {
    let stack = LocalStack::start(1, |_| vec![]);
    let s = RateLimiterSubject::new(RateLimiterConfig {
        redis_url: stack.redis.url(),
        nodes: stack.node_urls(),
        ..RateLimiterConfig::default()
    })
    .unwrap();
    let name = format!("ratelimit:c:{{api:{SECRET}}}:default:1000");
    stack
        .redis
        .cmd(&["HSET", &name, "w", "1", "c", "1", "p", "0"]);

    let o = s.observe().await.unwrap();
    let observed = serde_json::to_string(&o).unwrap();
    assert!(!observed.contains(SECRET), "{observed}");
    let keys = o.redis.keys.as_ref().unwrap();
    assert_eq!(keys.stuck_total, 1, "{keys:?}");
    assert_eq!(keys.stuck[0].key, "ratelimit:c:{api:***}:default:1000");

    let vs = RateLimiterChecker::default().check(&o, &History::new(10));
    let stuck = vs.iter().find(|v| v.invariant == "no_stuck_keys").unwrap();
    let shown = format!("{} {}", stuck.message, stuck.evidence);
    assert!(
        !shown.contains(SECRET) && shown.contains("api:***"),
        "{shown}"
    );

    let report = s
        .execute(&RateLimitAction::RepairStuckKeys {})
        .await
        .unwrap();
    assert_eq!(report.details["repaired_total"], 1, "{report:?}");
    let shown = format!("{} {}", report.summary, report.details);
    assert!(!shown.contains(SECRET), "{shown}");
    let ttl: i64 = stack
        .redis
        .cmd(&["PTTL", &name])
        .trim_start_matches(':')
        .parse()
        .unwrap();
    assert!(
        (1..=2_000).contains(&ttl),
        "the real key got its TTL: {ttl}"
    );
}
