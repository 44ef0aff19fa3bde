//! The monitor on a real Redis Sentinel set (a primary, a replica, three sentinels): it watches
//! the current primary through the sentinels, names the failover with the old and the new
//! primary when the primary is killed, and follows the promoted replica.

use std::sync::Arc;
use std::time::Duration;

use operator_core::{History, InvariantChecker, Subject, Violation};
use operator_ratelimiter::checker::{CLUSTER_OK, FAILOVER_DETECTED, REPLICA_LIVE};
use operator_ratelimiter::{
    Observation, RateLimiterChecker, RateLimiterConfig, RateLimiterSubject, RedisMode,
};
use test_support::RedisSentinels;
use test_support::redis_sentinel::SENTINEL_MASTER;

fn fired<'a>(v: &'a [Violation], invariant: &str) -> Vec<&'a Violation> {
    v.iter().filter(|v| v.invariant == invariant).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_monitor_follows_the_primary_and_names_the_failover() {
    let mut set = RedisSentinels::start();
    let subject = RateLimiterSubject::new(RateLimiterConfig {
        redis_mode: RedisMode::Sentinel,
        redis_url: set.sentinel_urls(),
        sentinel_master: Some(SENTINEL_MASTER.into()),
        nodes: vec![format!("http://127.0.0.1:{}", test_support::free_port())],
        ..RateLimiterConfig::default()
    })
    .unwrap();
    let checker = RateLimiterChecker::default();
    let mut history = History::new(10);
    let tick = async |history: &mut History<Observation>| {
        let o = subject.observe().await.unwrap();
        let v = checker.check(&o, history);
        history.push(
            o.observed_at,
            tokio::time::Instant::now(),
            Arc::new(o.clone()),
        );
        (o, v)
    };
    let old = set.primary_port();
    let old_addr = format!("127.0.0.1:{old}");
    let (o, v) = tick(&mut history).await;
    let s = o.redis.sentinel.as_ref().expect("sentinel view");
    assert_eq!(s.primary.as_deref(), Some(old_addr.as_str()), "{s:#?}");
    assert_eq!(s.answering(), 3);
    assert!(s.quorum.is_some());
    assert!(o.redis.reachable, "{:?}", o.redis.error);
    assert_eq!(
        o.redis.info.as_ref().map(|i| i.role.as_str()),
        Some("master")
    );
    for inv in [CLUSTER_OK, REPLICA_LIVE, FAILOVER_DETECTED] {
        assert!(fired(&v, inv).is_empty(), "{inv}: {v:#?}");
    }

    set.kill(old);
    let new = set.wait_for_failover(old, Duration::from_secs(30));
    let new_addr = format!("127.0.0.1:{new}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (o, v) = tick(&mut history).await;
        let followed = o.redis.reachable
            && o.redis.info.as_ref().is_some_and(|i| i.role == "master")
            && o.redis.sentinel.as_ref().and_then(|s| s.primary.as_deref())
                == Some(new_addr.as_str());
        let failover = fired(&v, FAILOVER_DETECTED);
        if followed && !failover.is_empty() {
            let f = failover[0];
            assert_eq!(f.entity.as_deref(), Some(old_addr.as_str()));
            assert!(
                f.message.contains(&old_addr) && f.message.contains(&new_addr),
                "{}",
                f.message
            );
            // The promoted replica has no replica of its own while the old primary is down.
            assert!(
                fired(&v, REPLICA_LIVE)
                    .iter()
                    .any(|x| x.entity.as_deref() == Some(new_addr.as_str())),
                "{v:#?}"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the monitor did not follow the failover to {new_addr}: {o:#?} {v:#?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
