//! The cluster invariants over hand-written topologies.

use operator_core::Severity;

use super::{check, names};
use crate::checker::sample::on_cluster;
use crate::observation::Observation;
use crate::topology::{ClusterView, Failover, SlotRange};

fn cluster_mut(o: &mut Observation) -> &mut ClusterView {
    o.redis.cluster.as_mut().unwrap()
}

#[test]
fn a_healthy_cluster_has_no_violation_and_replicas_are_no_cause() {
    assert!(check(&on_cluster(1000), vec![on_cluster(0)]).is_empty());
}

#[test]
fn a_dead_primary_is_named_and_its_slots_are_uncovered() {
    let mut o = on_cluster(1000);
    let c = cluster_mut(&mut o);
    c.state = Some("fail".into());
    c.instances[1].reachable = false;
    c.instances[1].failed = true;
    c.instances[1].error = Some("connection refused".into());
    c.uncovered = vec![SlotRange {
        start: 5461,
        end: 10922,
    }];
    let v = check(&o, vec![on_cluster(0)]);
    assert_eq!(
        names(&v),
        ["cluster_ok", "redis_healthy[127.0.0.1:7001]"],
        "{v:#?}"
    );
    assert!(v.iter().all(|v| v.severity == Severity::Critical));
    assert!(
        v[0].message
            .contains("slots 5461-10922 served by no live primary")
            && v[0].message.contains("127.0.0.1:7001"),
        "{}",
        v[0].message
    );
    // A dead replica is a warning on it and leaves its primary without a live replica.
    let mut o = on_cluster(1000);
    cluster_mut(&mut o).instances[4].reachable = false;
    let v = check(&o, vec![on_cluster(0)]);
    assert_eq!(
        names(&v),
        [
            "replica_live[127.0.0.1:7001]",
            "redis_healthy[127.0.0.1:7004]"
        ]
    );
    assert!(v.iter().all(|v| v.severity == Severity::Warning));
}

#[test]
fn a_failover_names_the_old_and_the_new_primary() {
    let mut o = on_cluster(1000);
    cluster_mut(&mut o).failovers = vec![Failover {
        slots: vec![SlotRange {
            start: 5461,
            end: 10922,
        }],
        old_primary: "127.0.0.1:7009".into(),
        new_primary: "127.0.0.1:7001".into(),
        at: o.observed_at,
    }];
    let v = check(&o, vec![on_cluster(0)]);
    assert_eq!(names(&v), ["failover_detected[127.0.0.1:7009]"]);
    for part in [
        "127.0.0.1:7009",
        "127.0.0.1:7001",
        "5461-10922",
        "gone from the cluster",
    ] {
        assert!(v[0].message.contains(part), "{part}: {}", v[0].message);
    }
}

#[test]
fn an_unequal_shard_and_a_skewed_primary_clock_are_warnings() {
    let mut o = on_cluster(1000);
    let c = cluster_mut(&mut o);
    c.instances[0].keys = Some(9_000);
    c.instances[2].clock_offset_ms = Some(2_000);
    let v = check(&o, vec![on_cluster(0)]);
    assert_eq!(
        names(&v),
        [
            "shard_balance[127.0.0.1:7000]",
            "counter_drift[127.0.0.1:7002]"
        ]
    );
    assert!(
        v[0].message.contains("9000 of the cluster's 9800 keys"),
        "{}",
        v[0].message
    );
    // Few keys: shares are not compared.
    let mut o = on_cluster(1000);
    cluster_mut(&mut o).instances[0].keys = Some(50);
    for i in &mut cluster_mut(&mut o).instances[1..3] {
        i.keys = Some(0);
    }
    assert!(check(&o, vec![on_cluster(0)]).is_empty());
}

#[test]
fn sentinels_under_their_quorum_a_lone_primary_and_a_new_primary_are_named() {
    use crate::topology::{SentinelPeer, SentinelView};
    let peer = |port: u16, up: bool| SentinelPeer {
        url: format!("redis://127.0.0.1:{port}"),
        reachable: up,
        primary: up.then(|| "127.0.0.1:6380".to_owned()),
        error: (!up).then(|| "connection refused".to_owned()),
    };
    let mut o = crate::checker::sample::healthy(1000);
    o.redis.sentinel = Some(SentinelView {
        master: "mymaster".into(),
        primary: Some("127.0.0.1:6380".into()),
        quorum: Some(2),
        replicas_live: Some(1),
        sentinels: vec![peer(26379, true), peer(26380, true), peer(26381, true)],
        failovers: vec![],
    });
    assert!(check(&o, vec![]).is_empty());
    let s = o.redis.sentinel.as_mut().unwrap();
    s.sentinels[0].reachable = false;
    s.sentinels[1].reachable = false;
    s.replicas_live = Some(0);
    s.failovers = vec![Failover {
        slots: vec![],
        old_primary: "127.0.0.1:6379".into(),
        new_primary: "127.0.0.1:6380".into(),
        at: o.observed_at,
    }];
    let v = check(&o, vec![]);
    assert_eq!(
        names(&v),
        [
            "cluster_ok",
            "replica_live[127.0.0.1:6380]",
            "failover_detected[127.0.0.1:6379]"
        ]
    );
    assert!(
        v[0].message
            .contains("only 1 of 3 sentinels answer, under the quorum 2"),
        "{}",
        v[0].message
    );
    assert!(
        v[2].message
            .contains("primary 127.0.0.1:6379 replaced by 127.0.0.1:6380"),
        "{}",
        v[2].message
    );
}
