//! Rules about a Redis Cluster.

use super::{context_for, diagnose};
use crate::checker::sample::on_cluster;
use crate::observation::Observation;
use crate::topology::{Failover, Role, SlotRange};

fn primary_down(o: &mut Observation, with_replica: bool) {
    let c = o.redis.cluster.as_mut().unwrap();
    c.state = Some("fail".into());
    c.instances[1].reachable = false;
    c.instances[1].error = Some("connection refused".into());
    c.uncovered = vec![SlotRange {
        start: 5461,
        end: 10922,
    }];
    if !with_replica {
        c.instances[4].reachable = false;
    }
}

#[test]
fn a_dead_primary_with_a_live_replica_is_a_pending_failover_and_without_one_a_lost_shard() {
    let mut o = on_cluster(1000);
    primary_down(&mut o, true);
    let r = diagnose(&context_for(&o, vec![on_cluster(0)], "cluster_ok", vec![]));
    assert_eq!(r.rule.as_deref(), Some("redis_cluster_failover_pending"));
    assert!(
        r.diagnosis.summary.contains("127.0.0.1:7004"),
        "{}",
        r.diagnosis.summary
    );

    let mut o = on_cluster(1000);
    primary_down(&mut o, false);
    let r = diagnose(&context_for(&o, vec![on_cluster(0)], "cluster_ok", vec![]));
    assert_eq!(r.rule.as_deref(), Some("redis_cluster_shard_lost"));
    assert!(
        r.diagnosis
            .summary
            .contains("127.0.0.1:7001 (slots 5461-10922)"),
        "{}",
        r.diagnosis.summary
    );
    assert!(r.diagnosis.actions.is_empty());
}

#[test]
fn a_failover_is_named_with_the_old_and_the_new_primary() {
    let mut o = on_cluster(1000);
    let c = o.redis.cluster.as_mut().unwrap();
    // 7001 died; 7004 serves its slots, 7001 is back as its replica.
    c.instances[1].role = Role::Replica;
    c.instances[1].primary_id = Some("id7004".into());
    c.instances[1].slots.clear();
    c.instances[4].role = Role::Primary;
    c.instances[4].primary_id = None;
    c.instances[4].slots = vec![SlotRange {
        start: 5461,
        end: 10922,
    }];
    c.failovers = vec![Failover {
        slots: vec![SlotRange {
            start: 5461,
            end: 10922,
        }],
        old_primary: "127.0.0.1:7001".into(),
        new_primary: "127.0.0.1:7004".into(),
        at: o.observed_at,
    }];
    let r = diagnose(&context_for(
        &o,
        vec![on_cluster(0)],
        "failover_detected[127.0.0.1:7001]",
        vec![],
    ));
    assert_eq!(r.rule.as_deref(), Some("redis_cluster_failover"));
    for part in [
        "127.0.0.1:7001",
        "127.0.0.1:7004",
        "5461-10922",
        "back as a replica",
        "lost",
    ] {
        assert!(
            r.diagnosis.summary.contains(part),
            "{part}: {}",
            r.diagnosis.summary
        );
    }
}

#[test]
fn slots_no_primary_lists_are_unassigned() {
    let mut o = on_cluster(1000);
    let c = o.redis.cluster.as_mut().unwrap();
    c.instances[0].slots = vec![SlotRange {
        start: 100,
        end: 5460,
    }];
    c.uncovered = vec![SlotRange { start: 0, end: 99 }];
    let r = diagnose(&context_for(&o, vec![on_cluster(0)], "cluster_ok", vec![]));
    assert_eq!(r.rule.as_deref(), Some("redis_cluster_slots_unassigned"));
    assert!(
        r.diagnosis.summary.contains("Slots 0-99"),
        "{}",
        r.diagnosis.summary
    );
}
