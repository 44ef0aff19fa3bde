//! The monitor on a real Redis Cluster (3 primaries + 3 replicas of `redis-server`): it sees
//! every instance, scans every primary, names a killed primary and the failover to its replica,
//! and is clear again once the old primary has rejoined.

use std::sync::Arc;
use std::time::Duration;

use operator_core::{History, InvariantChecker, Subject, Violation};
use operator_ratelimiter::checker::{
    CLUSTER_OK, FAILOVER_DETECTED, NO_STUCK_KEYS, REDIS_HEALTHY, REPLICA_LIVE,
};
use operator_ratelimiter::topology::Role;
use operator_ratelimiter::{
    Observation, RateLimitAction, RateLimiterChecker, RateLimiterConfig, RateLimiterSubject,
    RedisMode,
};
use test_support::RedisCluster;

struct Monitor {
    subject: RateLimiterSubject,
    checker: RateLimiterChecker,
    history: History<Observation>,
}

impl Monitor {
    fn new(cluster: &RedisCluster) -> Self {
        let subject = RateLimiterSubject::new(RateLimiterConfig {
            redis_mode: RedisMode::Cluster,
            redis_url: cluster.seed_urls(),
            nodes: vec![format!("http://127.0.0.1:{}", test_support::free_port())],
            failover_memory: Duration::from_secs(3),
            ..RateLimiterConfig::default()
        })
        .unwrap();
        Self {
            subject,
            checker: RateLimiterChecker::default(),
            history: History::new(10),
        }
    }

    /// One observation and what the checker says of it (the node is not running: its
    /// violations are left out).
    async fn tick(&mut self) -> (Observation, Vec<Violation>) {
        let o = self.subject.observe().await.unwrap();
        let v: Vec<Violation> = self
            .checker
            .check(&o, &self.history)
            .into_iter()
            .filter(|v| {
                v.entity
                    .as_deref()
                    .is_none_or(|e| !e.starts_with("127.0.0.1:") || o.node(e).is_none())
            })
            .collect();
        self.history.push(
            o.observed_at,
            tokio::time::Instant::now(),
            Arc::new(o.clone()),
        );
        (o, v)
    }

    /// Ticks until `done` holds, for at most `secs` seconds; the last tick.
    async fn until(
        &mut self,
        secs: u64,
        what: &str,
        done: impl Fn(&Observation, &[Violation]) -> bool,
    ) -> (Observation, Vec<Violation>) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let (o, v) = self.tick().await;
            if done(&o, &v) {
                return (o, v);
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what} not seen within {secs} s; last violations: {:#?}",
                v.iter()
                    .map(|v| (&v.invariant, &v.entity, &v.message))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

fn names(v: &[Violation]) -> Vec<(&str, Option<&str>)> {
    v.iter()
        .map(|v| (v.invariant.as_str(), v.entity.as_deref()))
        .collect()
}

fn fired<'a>(v: &'a [Violation], invariant: &str) -> Vec<&'a Violation> {
    v.iter().filter(|v| v.invariant == invariant).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_monitor_names_a_killed_primary_and_the_failover_then_clears() {
    let mut cluster = RedisCluster::start();
    let seed = cluster.ports().base;
    // One key per primary with a TTL, and one key without a TTL on the primary of `stuck`.
    for key in ["ratelimit:a", "ratelimit:b", "ratelimit:c", "ratelimit:d"] {
        let port = cluster.primary_of_key(key);
        cluster.cmd(port, &["SET", key, "1", "PX", "600000"]);
    }
    let stuck = "ratelimit:{stuck}:junk";
    cluster.cmd(cluster.primary_of_key(stuck), &["SET", stuck, "1"]);

    let mut monitor = Monitor::new(&cluster);
    let (o, v) = monitor
        .until(20, "a cluster of 3+3 with the stuck key", |o, v| {
            // `--cluster create` makes the replicas replicate after the slots are assigned; the
            // cluster says so a moment later.
            let replicas = o.redis.cluster.as_ref().map_or(0, |c| {
                c.instances
                    .iter()
                    .filter(|i| i.role == Role::Replica)
                    .count()
            });
            replicas == 3 && !fired(v, NO_STUCK_KEYS).is_empty()
        })
        .await;
    let c = o.redis.cluster.as_ref().expect("cluster view");
    assert_eq!(c.instances.len(), 6, "{c:#?}");
    assert_eq!(c.primaries().count(), 3);
    assert!(c.instances.iter().all(|i| i.reachable), "{c:#?}");
    assert_eq!(c.state.as_deref(), Some("ok"));
    assert!(o.redis.reachable && o.redis.policies.is_some());
    // Every primary was scanned: the stuck key lives on one of them, whichever.
    assert!(
        fired(&v, NO_STUCK_KEYS)[0].message.contains(stuck),
        "{:?}",
        fired(&v, NO_STUCK_KEYS)[0].message
    );
    for inv in [CLUSTER_OK, REPLICA_LIVE, FAILOVER_DETECTED, REDIS_HEALTHY] {
        assert!(fired(&v, inv).is_empty(), "{inv}: {:?}", names(&v));
    }
    // repair_stuck_keys walks every primary: the key gets a TTL wherever it lives.
    let report = monitor
        .subject
        .execute(&RateLimitAction::RepairStuckKeys {})
        .await
        .unwrap();
    assert!(report.changed, "{report:?}");
    assert_eq!(
        report.details["shards"].as_array().map(Vec::len),
        Some(3),
        "{report:?}"
    );
    let pttl = cluster.cmd(cluster.primary_of_key(stuck), &["PTTL", stuck]);
    assert!(
        pttl.trim_start_matches(':').parse::<i64>().unwrap() > 0,
        "{pttl}"
    );

    // SIGKILL the primary of a hot key's slot.
    let hot = "ratelimit:{user:42}:x";
    let slot = cluster.slot_of(hot);
    let old = cluster.primary_of_slot(slot);
    let old_addr = format!("127.0.0.1:{old}");
    cluster.kill(old);
    let (_, v) = monitor
        .until(20, "the dead primary named", |_, v| {
            fired(v, REDIS_HEALTHY)
                .iter()
                .any(|x| x.entity.as_deref() == Some(old_addr.as_str()))
        })
        .await;
    let dead = fired(&v, REDIS_HEALTHY)
        .into_iter()
        .find(|x| x.entity.as_deref() == Some(old_addr.as_str()))
        .unwrap();
    assert!(dead.message.contains(&old_addr), "{}", dead.message);

    // The replica takes over: the failover is reported with the old and the new primary.
    let new = cluster.wait_for_failover(slot, old, Duration::from_secs(30));
    let new_addr = format!("127.0.0.1:{new}");
    let (o, v) = monitor
        .until(20, "the failover", |_, v| {
            !fired(v, FAILOVER_DETECTED).is_empty()
        })
        .await;
    let f = fired(&v, FAILOVER_DETECTED)[0];
    assert_eq!(f.entity.as_deref(), Some(old_addr.as_str()));
    assert!(
        f.message.contains(&old_addr) && f.message.contains(&new_addr),
        "{}",
        f.message
    );
    // Its slots are served again; the new primary has no live replica.
    let c = o.redis.cluster.as_ref().unwrap();
    assert!(c.uncovered.is_empty(), "{c:#?}");
    let lone = fired(&v, REPLICA_LIVE);
    assert!(
        lone.iter()
            .any(|x| x.entity.as_deref() == Some(new_addr.as_str())),
        "{:?}",
        names(&v)
    );

    // The old primary comes back as a replica: everything clears (the failover once
    // `failover_memory` has passed).
    cluster.restart(old);
    assert!(cluster.wait_ok(Duration::from_secs(30)));
    let (o, v) = monitor
        .until(30, "a whole cluster again", |_, v| {
            [CLUSTER_OK, REPLICA_LIVE, FAILOVER_DETECTED, REDIS_HEALTHY]
                .iter()
                .all(|inv| fired(v, inv).is_empty())
        })
        .await;
    let back = o
        .redis
        .cluster
        .as_ref()
        .unwrap()
        .instances
        .iter()
        .find(|i| i.addr == old_addr)
        .unwrap();
    assert_eq!(back.role, Role::Replica, "{back:#?}");
    assert!(back.reachable);
    let _ = (seed, v);
}
