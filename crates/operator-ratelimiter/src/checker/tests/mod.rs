//! Each invariant over hand-written observations (from [`sample`](super::sample)): what fires,
//! what stays quiet, and what is left unknown. One module per concern, as the checker is.

mod abuse;
mod access;
mod cluster;
mod config;
mod nodes;
mod redis;

use std::time::Duration;

use operator_core::{InvariantChecker, Violation};
use ratelimiter_schema::NodeInfo;

use super::sample::{healthy, history};
use super::*;
use crate::observation::Observation;

pub(super) fn check(current: &Observation, past: Vec<Observation>) -> Vec<Violation> {
    RateLimiterChecker::default().check(current, &history(past))
}

pub(super) fn names(vs: &[Violation]) -> Vec<String> {
    vs.iter().map(|v| v.key().to_string()).collect()
}

pub(super) fn info_mut(o: &mut Observation, i: usize) -> &mut NodeInfo {
    o.nodes[i].info.as_mut().unwrap()
}

#[test]
fn a_healthy_stack_has_no_violation() {
    assert!(check(&healthy(1000), vec![healthy(0), healthy(500)]).is_empty());
}

#[test]
fn specs_cover_every_invariant_with_documented_timing() {
    let specs = RateLimiterChecker::default().invariants();
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            REDIS_HEALTHY,
            NO_STUCK_KEYS,
            CONFIG_LOADED,
            NODE_DOWN,
            HIGH_LATENCY,
            COUNTER_DRIFT,
            OVER_ADMISSION,
            ABUSE_DETECTED,
            CLUSTER_OK,
            REPLICA_LIVE,
            FAILOVER_DETECTED,
            SHARD_BALANCE
        ]
    );
    let redis = &specs[0];
    assert_eq!(
        redis.pending,
        Duration::ZERO,
        "a dead Redis is reported on the first observation"
    );
}
