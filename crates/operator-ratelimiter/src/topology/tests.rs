use chrono::Utc;

use super::*;

/// `CLUSTER NODES` of a 3+3 cluster, as Redis 7 prints it (seen from 7000).
const HEALTHY: &str = "\
a0000000000000000000000000000000000000a0 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460
b0000000000000000000000000000000000000b0 127.0.0.1:7001@17001 master - 0 1700000000000 2 connected 5461-10922
c0000000000000000000000000000000000000c0 127.0.0.1:7002@17002,host-c master - 0 1700000000000 3 connected 10923-16383 [100->-b0000000000000000000000000000000000000b0]
d0000000000000000000000000000000000000d0 127.0.0.1:7003@17003 slave a0000000000000000000000000000000000000a0 0 1700000000000 1 connected
e0000000000000000000000000000000000000e0 127.0.0.1:7004@17004 slave b0000000000000000000000000000000000000b0 0 1700000000000 2 connected
f0000000000000000000000000000000000000f0 127.0.0.1:7005@17005 slave c0000000000000000000000000000000000000c0 0 1700000000000 3 connected
";

fn range(start: u16, end: u16) -> SlotRange {
    SlotRange { start, end }
}

fn live(mut v: Vec<InstanceView>) -> Vec<InstanceView> {
    for i in &mut v {
        i.reachable = !i.failed;
    }
    v
}

#[test]
fn cluster_nodes_are_parsed_primaries_first() {
    let nodes = parse_cluster_nodes(HEALTHY);
    let got: Vec<_> = nodes
        .iter()
        .map(|i| (i.addr.as_str(), i.role, i.slots.clone()))
        .collect();
    assert_eq!(
        got,
        [
            ("127.0.0.1:7000", Role::Primary, vec![range(0, 5460)]),
            ("127.0.0.1:7001", Role::Primary, vec![range(5461, 10922)]),
            ("127.0.0.1:7002", Role::Primary, vec![range(10923, 16383)]),
            ("127.0.0.1:7003", Role::Replica, vec![]),
            ("127.0.0.1:7004", Role::Replica, vec![]),
            ("127.0.0.1:7005", Role::Replica, vec![]),
        ]
    );
    assert_eq!(
        nodes[3].primary_id.as_deref(),
        Some("a0000000000000000000000000000000000000a0")
    );
    assert!(uncovered(&live(nodes)).is_empty());
}

#[test]
fn a_failed_primary_leaves_its_slots_uncovered_until_its_replica_takes_over() {
    let killed = HEALTHY.replace(
        "127.0.0.1:7001@17001 master",
        "127.0.0.1:7001@17001 master,fail",
    );
    let nodes = live(parse_cluster_nodes(&killed));
    assert!(nodes[1].failed);
    assert_eq!(uncovered(&nodes), [range(5461, 10922)]);
    // Also when the monitor alone cannot reach it.
    let mut unreachable = live(parse_cluster_nodes(HEALTHY));
    unreachable[2].reachable = false;
    assert_eq!(uncovered(&unreachable), [range(10923, 16383)]);
    // Slots assigned to nobody.
    let partial = HEALTHY.replace("connected 0-5460", "connected 0-99 200-5460");
    assert_eq!(
        uncovered(&live(parse_cluster_nodes(&partial))),
        [range(100, 199)]
    );
}

#[test]
fn a_replica_taking_its_primarys_slots_is_a_failover_and_a_resharding_is_not() {
    let before = parse_cluster_nodes(HEALTHY);
    let after_text = HEALTHY
        .replace(
            "127.0.0.1:7001@17001 master - 0 1700000000000 2 connected 5461-10922",
            "127.0.0.1:7001@17001 master,fail - 0 1700000000000 2 connected",
        )
        .replace(
            "127.0.0.1:7004@17004 slave b0000000000000000000000000000000000000b0 0 1700000000000 2 connected",
            "127.0.0.1:7004@17004 master - 0 1700000000000 7 connected 5461-10922",
        );
    let after = parse_cluster_nodes(&after_text);
    let at = Utc::now();
    assert_eq!(
        failovers(&before, &after, at),
        [Failover {
            slots: vec![range(5461, 10922)],
            old_primary: "127.0.0.1:7001".into(),
            new_primary: "127.0.0.1:7004".into(),
            at,
        }]
    );
    assert!(failovers(&after, &after, at).is_empty());
    // Slots moved from 7000 to 7002 by resharding.
    let resharded = HEALTHY
        .replace("connected 0-5460", "connected 100-5460")
        .replace("connected 10923-16383", "connected 0-99 10923-16383");
    assert!(failovers(&before, &parse_cluster_nodes(&resharded), at).is_empty());
}

#[test]
fn key_slots_follow_the_hash_tag() {
    // Values from `CLUSTER KEYSLOT`.
    assert_eq!(key_slot(b"foo"), 12182);
    assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
    assert_eq!(key_slot(b"{}foo"), key_slot(b"{}foo"));
    assert_ne!(key_slot(b"{}foo"), key_slot(b"foo"));
    assert_eq!(ranges_text(&[range(0, 5460), range(7, 7)]), "0-5460, 7");
}
