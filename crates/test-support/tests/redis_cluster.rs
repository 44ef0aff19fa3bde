//! The cluster and sentinel launchers start real servers, fail over a killed primary, take a
//! restarted one back, migrate a slot, and stop everything on drop.

use std::time::Duration;

use test_support::{RedisCluster, RedisSentinels};

#[test]
fn a_cluster_forms_fails_over_a_killed_primary_and_takes_it_back() {
    let mut cluster = RedisCluster::start();
    let primaries = cluster.primaries();
    assert_eq!(primaries.len(), 3, "3 primaries: {primaries:?}");
    let covered: u32 = primaries
        .iter()
        .flat_map(|(_, r)| r.iter().map(|&(a, b)| u32::from(b - a) + 1))
        .sum();
    assert_eq!(covered, 16384, "every slot is served");

    let slot = cluster.slot_of("{k}x");
    let old = cluster.primary_of_key("{k}x");
    assert_eq!(cluster.cmd(old, &["SET", "{k}x", "1"]), "+OK");
    cluster.kill(old);
    let new = cluster.wait_for_failover(slot, old, Duration::from_secs(30));
    assert_ne!(new, old);
    assert_eq!(cluster.primary_of_slot(slot), new);

    cluster.restart(old);
    assert!(
        cluster.wait_ok(Duration::from_secs(30)),
        "cluster whole again"
    );
    assert_eq!(
        cluster.primary_of_slot(slot),
        new,
        "the old primary came back as a replica"
    );

    let ports = cluster.ports().all();
    drop(cluster);
    for p in ports {
        assert!(
            test_support::resp::raw_command(p, &["PING"]).is_err(),
            "{p} gone after drop"
        );
    }
}

#[test]
fn a_slot_moves_with_its_keys() {
    let cluster = RedisCluster::start();
    let slot = cluster.slot_of("{m}");
    let from = cluster.primary_of_slot(slot);
    let to = cluster
        .primaries()
        .into_iter()
        .map(|(p, _)| p)
        .find(|&p| p != from)
        .expect("another primary");
    for i in 0..25 {
        assert_eq!(
            cluster.cmd(from, &["SET", &format!("{{m}}{i}"), "v"]),
            "+OK"
        );
    }
    let mut batches = 0;
    cluster.migrate_slot(slot, from, to, 10, || batches += 1);
    assert_eq!(batches, 3, "25 keys in batches of 10");
    assert_eq!(cluster.primary_of_slot(slot), to);
    assert_eq!(cluster.cmd(to, &["EXISTS", "{m}0", "{m}24"]), ":2");
}

#[test]
fn sentinels_promote_the_replica_of_a_killed_primary() {
    let mut set = RedisSentinels::start();
    let old = set.primary_port();
    assert_eq!(old, set.data_ports()[0]);
    set.kill(old);
    let new = set.wait_for_failover(old, Duration::from_secs(40));
    assert_eq!(new, set.data_ports()[1]);
    assert_eq!(
        set.cmd(new, &["SET", "k", "v"]),
        "+OK",
        "the new primary takes writes"
    );
    set.restart(old);
}
