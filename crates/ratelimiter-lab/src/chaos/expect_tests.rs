//! What each fault expects: every fault has an expectation, tickets are classified.

use std::time::Duration;

use super::*;

fn every_fault() -> Vec<Fault> {
    let d = Duration::from_secs(3);
    vec![
        Fault::KillRedis,
        Fault::RestartRedis,
        Fault::PauseRedis(d),
        Fault::KillNode(2),
        Fault::RestartNode(2),
        Fault::StuckKeys(20),
        Fault::DropPolicies,
        Fault::ScriptFlush,
        Fault::PartitionNode(2, d),
        Fault::PartitionRedis(d),
        Fault::KillRedisPrimary(1),
        Fault::Failover(2),
        Fault::KeyPrefixMismatch(2),
        Fault::ClockDrift(2, 5_000),
        Fault::Eviction,
        Fault::SlowRedis(Duration::from_millis(200), d),
        Fault::NaiveMode,
    ]
}

#[test]
fn every_fault_of_the_catalog_has_an_expectation() {
    let faults = every_fault();
    assert_eq!(faults.len(), Fault::catalog().len());
    for f in &faults {
        let e = f.expectation();
        assert!(
            Fault::catalog().iter().any(|s| s.name == f.name()),
            "{f} is not in the catalog"
        );
        // A fault that opens no ticket must heal itself: nothing would say it was repaired.
        if e.fires.is_none() {
            assert_eq!(e.remedy, Remedy::Itself, "{f}");
        }
        // The expected invariant is never also a side one: its other entities would hide a
        // wrongly blamed node.
        // (A slow Redis slows every node alike, naive-mode puts every node in the mode: no node
        // is wrongly blamed.)
        if let Some(x) = e.fires
            && !matches!(f, Fault::SlowRedis(..) | Fault::NaiveMode)
        {
            assert!(!e.side.contains(&x.invariant) || x.node().is_none(), "{f}");
        }
    }
}

#[test]
fn a_node_fault_expects_that_node_only() {
    let e = Fault::KillNode(2).expectation();
    let addr = |n: usize| (n <= 3).then(|| format!("127.0.0.1:{}", 8000 + n));
    let key = e.fires.and_then(|x| x.key(addr, None)).unwrap();
    assert_eq!(key, "node_down[127.0.0.1:8002]");
    assert_eq!(e.classify(&key, Some(&key)), TicketClass::Expected);
    assert_eq!(
        e.classify("node_down[127.0.0.1:8001]", Some(&key)),
        TicketClass::Unexpected
    );
    assert_eq!(
        e.classify("high_latency[127.0.0.1:8002]", Some(&key)),
        TicketClass::Side
    );
    assert_eq!(
        e.classify("redis_healthy", Some(&key)),
        TicketClass::Unexpected
    );
    assert_eq!(
        Fault::KillNode(4)
            .expectation()
            .fires
            .unwrap()
            .key(addr, None),
        None
    );
}

#[test]
fn a_redis_outage_allows_its_symptoms_and_nothing_else() {
    let e = Fault::KillRedis.expectation();
    let key = e.fires.and_then(|x| x.key(|_| None, None)).unwrap();
    assert_eq!(key, "redis_healthy");
    assert_eq!(e.fires.unwrap().cause, "redis_down");
    assert_eq!(
        e.classify("redis_healthy", Some(&key)),
        TicketClass::Expected
    );
    for side in [
        "over_admission[127.0.0.1:8001]",
        "config_loaded",
        "node_down[x]",
    ] {
        assert_eq!(e.classify(side, Some(&key)), TicketClass::Side, "{side}");
    }
    assert_eq!(
        e.classify("no_stuck_keys", Some(&key)),
        TicketClass::Unexpected
    );
    assert_eq!(e.remedy, Remedy::Undo);
}

#[test]
fn self_healing_faults_expect_no_ticket_and_partitions_need_a_network() {
    for f in [Fault::DropPolicies, Fault::ScriptFlush] {
        let e = f.expectation();
        assert_eq!(e.fires, None, "{f}");
        assert_eq!(e.classify("no_stuck_keys", None), TicketClass::Unexpected);
        assert!(e.evaluable(false, false));
        assert!(!e.evaluable(false, true), "{f} acts on one Redis");
    }
    assert_eq!(
        Fault::StuckKeys(5).expectation().remedy,
        Remedy::Action("repair_stuck_keys")
    );
    let p = Fault::PartitionRedis(Duration::from_secs(3)).expectation();
    assert!(!p.evaluable(false, false) && p.evaluable(true, false));
}

#[test]
fn a_cluster_fault_expects_the_primary_it_acted_on() {
    for f in [Fault::KillRedisPrimary(1), Fault::Failover(2)] {
        let e = f.expectation();
        let x = e.fires.unwrap();
        assert_eq!(x.cause, "redis_cluster_failover", "{f}");
        assert_eq!(x.node(), None);
        assert_eq!(x.key(|_| None, None), None, "unresolved before the fault");
        assert_eq!(
            x.key(|_| None, Some("127.0.0.1:7001")).as_deref(),
            Some("failover_detected[127.0.0.1:7001]")
        );
        assert!(
            x.describe()
                .starts_with("failover_detected[<primary of shard")
        );
        assert!(
            e.evaluable(false, true) && !e.evaluable(false, false),
            "{f}"
        );
        assert!(e.refusal(false, false).unwrap().contains("--redis cluster"));
    }
    for f in [
        Fault::KillNode(2),
        Fault::RestartNode(2),
        Fault::StuckKeys(20),
    ] {
        assert!(f.expectation().evaluable(false, true), "{f}");
    }
    for f in [Fault::KillRedis, Fault::DropPolicies, Fault::ScriptFlush] {
        let single = f.expectation().refusal(false, true).unwrap();
        assert!(single.contains("single Redis"), "{f}: {single}");
    }
}

#[test]
fn seed_004_causes_are_local_only_and_name_their_cause() {
    let d = Duration::from_secs(3);
    for (f, invariant, cause) in [
        (
            Fault::KeyPrefixMismatch(2),
            COUNTER_DRIFT,
            "key_prefix_mismatch",
        ),
        (Fault::ClockDrift(2, 5_000), COUNTER_DRIFT, "clock_skew"),
        (Fault::Eviction, REDIS_HEALTHY, "eviction_under_maxmemory"),
        (
            Fault::SlowRedis(Duration::from_millis(100), d),
            HIGH_LATENCY,
            "redis_slow_for_nodes",
        ),
    ] {
        let e = f.expectation();
        let x = e.fires.unwrap();
        assert_eq!((x.invariant, x.cause), (invariant, cause), "{f}");
        assert!(e.evaluable(false, false), "{f} runs on the local stack");
        let refused = e.refusal(true, false).unwrap();
        assert!(refused.contains("local only"), "{f}: {refused}");
    }
    // The drifted node is the one blamed; a slow Redis blames node 1 and accepts the others.
    let key = |f: Fault| {
        f.expectation()
            .fires
            .unwrap()
            .key(|n| Some(format!("127.0.0.1:800{n}")), None)
            .unwrap()
    };
    assert_eq!(
        key(Fault::ClockDrift(3, -2_000)),
        "counter_drift[127.0.0.1:8003]"
    );
    let slow = Fault::SlowRedis(Duration::from_millis(100), d).expectation();
    assert_eq!(
        slow.classify(
            "high_latency[127.0.0.1:8002]",
            Some("high_latency[127.0.0.1:8001]")
        ),
        TicketClass::Side
    );
    assert_eq!(slow.remedy, Remedy::Itself);
    assert_eq!(Fault::Eviction.expectation().remedy, Remedy::Undo);
}
