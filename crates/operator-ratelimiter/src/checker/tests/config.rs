//! `config_loaded` and `counter_drift`.

use operator_core::{Severity, Violation};

use super::{check, info_mut, names};
use crate::checker::sample::healthy;
use crate::checker::*;
use crate::observation::{Observation, PolicyView, RedisView};

#[test]
fn missing_or_invalid_policies_are_critical() {
    let mut o = healthy(0);
    o.redis.policies = Some(PolicyView::default());
    let v = check(&o, vec![]);
    assert_eq!(names(&v), ["config_loaded"]);
    assert!(v[0].message.contains("no policies in Redis"));

    let mut o = healthy(0);
    let p = o.redis.policies.as_mut().unwrap();
    p.invalid.push(crate::observation::InvalidField {
        field: "policy:x".into(),
        error: "bad json".into(),
    });
    let v = check(&o, vec![]);
    assert!(
        v[0].message.contains("policy:x: bad json"),
        "{}",
        v[0].message
    );
}

#[test]
fn a_node_serving_other_policies_is_stale_only_after_the_propagation_time() {
    let stale = |t| {
        let mut o = healthy(t);
        let p = o.redis.policies.as_mut().unwrap();
        p.version = Some(4);
        p.digest = Some("d4".into());
        for i in 0..2 {
            info_mut(&mut o, i).policy_version = 4;
            info_mut(&mut o, i).policy_digest = "d4".into();
        }
        o
    };
    // Changed 1 s ago: still propagating.
    assert!(check(&stale(1000), vec![healthy(-500), stale(0), stale(500)]).is_empty());
    // 2.5 s later, node 3 still serves version 3.
    let v = check(&stale(2500), vec![stale(0), stale(1000), stale(2000)]);
    assert_eq!(
        names(&v),
        ["config_loaded[127.0.0.1:8003]", "counter_drift"]
    );
    assert!(
        v[0].message.contains("serves policy version 3"),
        "{}",
        v[0].message
    );
    assert!(v[1].message.contains("nodes disagree"), "{}", v[1].message);
}

fn lost(v: &[Violation]) -> Vec<&Violation> {
    v.iter()
        .filter(|v| v.invariant == CONFIG_LOADED && v.entity.is_none())
        .collect()
}

#[test]
fn redis_restarted_empty_is_reported_even_when_the_nodes_restored_the_policies() {
    let mut o = healthy(5000);
    o.redis.info.as_mut().unwrap().run_id = "r2".into();
    o.redis.policies.as_mut().unwrap().version = Some(1_800_000_004_000);
    let mut down = healthy(4000);
    down.redis = RedisView {
        reachable: false,
        ..Default::default()
    };
    let v = check(&o, vec![healthy(0), down]);
    let lost = lost(&v);
    assert_eq!(lost.len(), 1, "{v:?}");
    assert!(
        lost[0].message.contains("restarted empty"),
        "{}",
        lost[0].message
    );
    assert!(
        lost[0]
            .message
            .contains("re-seeded the same policies from memory"),
        "{}",
        lost[0].message
    );
    // The next observation compares with a server of the same run: nothing to report.
    assert!(self::lost(&check(&healthy_on("r2", 5500), vec![o])).is_empty());
    // A restart that loaded its data (persistence) is not a loss.
    let mut kept = healthy_on("r3", 6000);
    kept.redis.info.as_mut().unwrap().keys_loaded_at_start = 5_000;
    assert!(self::lost(&check(&kept, vec![healthy(0)])).is_empty());
}

#[test]
fn a_redis_with_an_append_only_file_that_came_back_empty_is_reported() {
    // INFO says nothing of keys loaded from an AOF: only the re-seeded version tells the loss.
    let mut o = healthy_on("r2", 5000);
    o.redis.info.as_mut().unwrap().aof_enabled = true;
    o.redis.policies.as_mut().unwrap().version = Some(1_800_000_004_000);
    let v = check(&o, vec![healthy(0)]);
    let lost = lost(&v);
    assert_eq!(lost.len(), 1, "{v:?}");
    assert!(
        lost[0].message.contains("restarted empty") && lost[0].message.contains("append-only file"),
        "{}",
        lost[0].message
    );
    // Back with its data (the same version): not a loss.
    let mut kept = healthy_on("r3", 6000);
    kept.redis.info.as_mut().unwrap().aof_enabled = true;
    assert!(self::lost(&check(&kept, vec![healthy(0)])).is_empty());
}

fn healthy_on(run_id: &str, t: i64) -> Observation {
    let mut o = healthy(t);
    o.redis.info.as_mut().unwrap().run_id = run_id.into();
    o
}

#[test]
fn policies_seeded_from_a_file_after_a_restart_say_api_changes_are_lost() {
    let mut o = healthy_on("r2", 5000);
    o.redis.info.as_mut().unwrap().keys_loaded_at_start = 1; // not empty: only the digest tells
    let p = o.redis.policies.as_mut().unwrap();
    p.digest = Some("seedfile".into());
    let v = check(&o, vec![healthy(0)]);
    assert!(
        lost(&v)[0]
            .message
            .contains("changes made through the API are lost"),
        "{v:?}"
    );
}

#[test]
fn policies_vanishing_while_redis_runs_show_as_a_version_jump() {
    let mut o = healthy(1000);
    o.redis.policies.as_mut().unwrap().version = Some(1_800_000_001_000);
    let v = check(&o, vec![healthy(0)]);
    assert!(
        lost(&v)[0]
            .message
            .contains("vanished from Redis while it kept running"),
        "{v:?}"
    );
    let mut small = healthy(1000);
    small.redis.policies.as_mut().unwrap().version = Some(4);
    assert!(
        lost(&check(&small, vec![healthy(0)])).is_empty(),
        "a change through the API adds one"
    );
}

#[test]
fn prefix_mismatch_and_clock_skew_are_drift() {
    let mut o = healthy(0);
    info_mut(&mut o, 0).key_prefix = "other:".into();
    o.nodes[1].clock_skew_ms = Some(-1_500);
    let v = check(&o, vec![]);
    assert_eq!(
        names(&v),
        [
            "counter_drift[127.0.0.1:8001]",
            "counter_drift[127.0.0.1:8002]"
        ]
    );
    assert_eq!(v[0].severity, Severity::Critical);
    assert!(
        v[1].message.contains("1500 ms behind Redis TIME"),
        "{}",
        v[1].message
    );
}
