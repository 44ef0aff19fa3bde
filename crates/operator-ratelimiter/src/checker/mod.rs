//! The rate limiter's invariants: pure functions of an [`Observation`] and the recent history.
//!
//! | invariant | entity | fires when |
//! |-----------|--------|-----------|
//! | `redis_healthy` | – | Redis unreachable or not answering in time, PING slower than the threshold twice in a row, evicting keys, near `maxmemory`, a replica, or failing reads |
//! | `no_stuck_keys` | – | a key under the prefix has no TTL (names a few) |
//! | `config_loaded` | – / node | policies missing, unparseable or lost by a Redis restart; a node with no policies, or serving other policies than Redis holds past the propagation time |
//! | `node_down` | node | a configured node unreachable (at once) or not ready on two observations in a row (a single "not ready", e.g. one slow readiness probe of Redis under load, leaves the alert unknown; not ready *because Redis is down* is left to `redis_healthy`); refusing the monitor for want of the right `--node-token` (warning); a registered node, not configured, whose heartbeat stopped |
//! | `high_latency` | node | the node's decision p99 since the last observation above the threshold |
//! | `counter_drift` | – / node | nodes disagreeing on the policies past the propagation time; nodes fingerprinting API keys under different identifier secrets; a node on another key prefix; a node clock skewed from Redis `TIME` (as the node measures it, else as the monitor tells it) |
//! | `over_admission` | policy / node | a counter holding more than its limit in the current window (how much over, e.g. `admitted 187 of limit 100 (+87 %)`, and the nodes in a teaching limiter mode; a GCRA bucket: its `tat` more than `tau` ahead of Redis time, more than `burst` units in use); a node taking at least `failure_ratio` (1 %) of its decisions by its failure mode (shared limiting lost); else a node in limiter mode `naive` or `memory`, not exact (warning) |
//! | `cluster_ok` | – | `--redis-mode sentinel`: no sentinel names a primary, or fewer answer than the quorum; `--redis-mode cluster`: no instance tells the topology, `cluster_state` not `ok`, or slots served by no live primary (names the ranges and the primary that served them) |
//! | `replica_live` | primary | a primary serving slots without a live replica (warning) |
//! | `failover_detected` | old primary | slots moved from a primary to its replica within `failover_memory` (warning, old and new primary) |
//! | `shard_balance` | primary | a primary holding more than `shard_skew` times its fair share of the keys (warning) |
//! | `abuse_detected` | node | the node blocks clients (key enumeration, a honeypot key) or its memory guard limits new keys in process; one ticket per node, at most 10 clients named |
//!
//! Nothing is taken as clear when its source could not be read: [`RateLimiterChecker::unknown`]
//! names what an observation could not evaluate, and the monitor leaves those alerts as they are.
//!
//! One module per concern, each naming the invariants it checks: `redis` (`redis_healthy`,
//! `no_stuck_keys`), `config` (`config_loaded`, `counter_drift`), `secret` (`counter_drift` from
//! the identifier secrets), `nodes` (`node_down`, `high_latency`, `over_admission`; `modes`, the nodes' limiter modes), `abuse`
//! (`abuse_detected`), `sentinel` (`cluster_ok`, `replica_live`, `failover_detected` of a set
//! watched by Redis Sentinel: no primary named, sentinels under the quorum, a change of
//! primary), `cluster` (the four cluster invariants, and per instance of a cluster
//! `redis_healthy` and the primaries' clocks under `counter_drift`); `history` finds what the previous observations said. This
//! module declares the invariants and runs the checks; the checks never import it.

mod abuse;
mod cluster;
mod config;
mod history;
mod modes;
mod nodes;
mod redis;
mod secret;
mod sentinel;

pub use abuse::{ABUSE_DETECTED, MAX_CLIENTS};
pub use cluster::{CLUSTER_OK, FAILOVER_DETECTED, REPLICA_LIVE, SHARD_BALANCE};
pub use config::{CONFIG_LOADED, COUNTER_DRIFT};
pub(crate) use modes::admitted_of_limit;
pub use nodes::{HIGH_LATENCY, NODE_DOWN, OVER_ADMISSION};
pub use redis::{NO_STUCK_KEYS, REDIS_HEALTHY};
pub use secret::SECRET_MISMATCH;

use std::time::Duration;

use operator_core::{History, InvariantChecker, InvariantSpec, Unknown, Violation};

use crate::config::Thresholds;
use crate::observation::Observation;

/// Checks the rate limiter's invariants.
#[derive(Debug, Clone, Default)]
pub struct RateLimiterChecker {
    thresholds: Thresholds,
}

impl RateLimiterChecker {
    /// A checker with these thresholds.
    pub fn new(thresholds: Thresholds) -> Self {
        Self { thresholds }
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

impl InvariantChecker<Observation> for RateLimiterChecker {
    fn invariants(&self) -> Vec<InvariantSpec> {
        let t = &self.thresholds;
        vec![
            InvariantSpec::new(
                REDIS_HEALTHY,
                format!(
                    "Redis answers PING within {} ms, is a primary, does not evict keys, stays under {:.0}% of \
                     maxmemory, and serves reads. Without it the nodes fall back to their failure mode.",
                    t.slow_ping.as_millis(),
                    t.memory_ratio * 100.0
                ),
            )
            .keep_firing(ms(2_000)),
            InvariantSpec::new(
                NO_STUCK_KEYS,
                "Every key under the prefix has a TTL. A key without one never expires: it leaks memory and, \
                 if it is a counter written by other code, can keep its users limited for good.",
            ),
            InvariantSpec::new(
                CONFIG_LOADED,
                format!(
                    "Redis holds a valid, versioned policy set; every node has policies loaded and serves the set \
                     Redis holds within {} ms of a change. Also fires when a Redis restart lost the policies and \
                     the nodes re-seeded them (changes made through the API are gone).",
                    t.policy_propagation.as_millis()
                ),
            )
            .keep_firing(ms(3_000)),
            InvariantSpec::new(
                NODE_DOWN,
                "Every configured node answers and is ready; every node registered in Redis keeps heartbeating.",
            )
            .keep_firing(ms(1_000)),
            InvariantSpec::new(
                HIGH_LATENCY,
                format!(
                    "Each node's decision latency p99 (between two observations, from its /metrics histogram) \
                     stays under {} ms.",
                    t.p99.as_millis()
                ),
            )
            .pending(ms(3_000))
            .keep_firing(ms(2_000)),
            InvariantSpec::new(
                COUNTER_DRIFT,
                format!(
                    "All nodes share one state: same policies (within {} ms of a change), same identifier \
                     secret (else one client's limit is split), same key prefix, and clocks within {} ms of \
                     Redis TIME.",
                    t.policy_propagation.as_millis(),
                    t.clock_skew.as_millis()
                ),
            )
            .pending(ms(1_000))
            .keep_firing(ms(2_000)),
            InvariantSpec::new(
                OVER_ADMISSION,
                "No key is admitted past its limit: no counter holds more than its window's limit in the \
                 current window, no node takes a share of its decisions without Redis (failure mode), \
                 where limits are not shared, and no node decides in a teaching limiter mode (naive, \
                 memory), which is not exact.",
            )
            .pending(ms(1_000))
            .keep_firing(ms(3_000)),
            InvariantSpec::new(
                ABUSE_DETECTED,
                format!(
                    "No node is under abuse: no client blocked for key enumeration or for using a honeypot \
                     key, and no memory guard limiting new keys in process because Redis is near maxmemory. \
                     One ticket per node, naming at most {MAX_CLIENTS} blocked client fingerprints."
                ),
            )
            .keep_firing(ms(5_000)),
            InvariantSpec::new(
                CLUSTER_OK,
                "On a Redis Cluster: the cluster state is ok and a live primary serves every one of the 16384 \
                 slots (keys of uncovered slots are decided by the nodes' failure mode). On Sentinel: a \
                 primary is named and at least the quorum of sentinels answers.",
            )
            .keep_firing(ms(2_000)),
            InvariantSpec::new(
                REPLICA_LIVE,
                "On a Redis Cluster: every primary serving slots has a live replica to fail over to.",
            )
            .pending(ms(1_000))
            .keep_firing(ms(2_000)),
            InvariantSpec::new(
                FAILOVER_DETECTED,
                "On a Redis Cluster: no slot range moved from its primary to a replica recently (a failover \
                 loses the counter increments not yet replicated).",
            ),
            InvariantSpec::new(
                SHARD_BALANCE,
                format!(
                    "On a Redis Cluster: no primary holds more than {:.1} times its fair share of the keys \
                     (checked from {} keys).",
                    t.shard_skew, t.shard_min_keys
                ),
            )
            .pending(ms(5_000)),
        ]
    }

    fn check(&self, current: &Observation, history: &History<Observation>) -> Vec<Violation> {
        let t = &self.thresholds;
        let mut out = Vec::new();
        out.extend(redis::redis_healthy(current, history, t));
        out.extend(redis::no_stuck_keys(current, t));
        out.extend(config::config_loaded(current, history, t));
        out.extend(config::counter_drift(current, history, t));
        out.extend(secret::secret_mismatch(current));
        out.extend(nodes::node_down(current, history));
        out.extend(nodes::high_latency(current, history, t));
        out.extend(nodes::over_admission(current, history, t));
        out.extend(abuse::abuse_detected(current, history));
        out.extend(cluster::cluster_ok(current));
        out.extend(cluster::replica_live(current));
        out.extend(cluster::failover_detected(current));
        out.extend(cluster::shard_balance(current, t));
        out.extend(cluster::instances_healthy(current, history, t));
        out.extend(cluster::primary_clocks(current, t));
        out.extend(sentinel::sentinel_checks(current));
        out
    }

    fn unknown(&self, current: &Observation, history: &History<Observation>) -> Vec<Unknown> {
        let mut out = Vec::new();
        if current.redis.keys.is_none() {
            out.push(Unknown::invariant(NO_STUCK_KEYS));
        }
        if current.redis.policies.is_none() {
            out.push(Unknown::invariant(CONFIG_LOADED));
        }
        let redis_clock = current.redis.time_ms.is_some();
        for node in &current.nodes {
            if node.info.is_none() {
                for inv in [
                    CONFIG_LOADED,
                    COUNTER_DRIFT,
                    OVER_ADMISSION,
                    HIGH_LATENCY,
                    ABUSE_DETECTED,
                ] {
                    out.push(Unknown::entity(inv, &node.addr));
                }
            } else if !redis_clock && node.clock_skew_ms.is_none() {
                out.push(Unknown::entity(COUNTER_DRIFT, &node.addr));
            }
            if nodes::latency_window(node, history).is_none() {
                out.push(Unknown::entity(HIGH_LATENCY, &node.addr));
            }
            if node.reachable && node.ready.is_none() {
                out.push(Unknown::entity(NODE_DOWN, &node.addr));
            }
            if nodes::not_ready_because_redis_is_down(current, node)
                || nodes::not_ready_unconfirmed(current, node, history)
            {
                out.push(Unknown::entity(NODE_DOWN, &node.addr));
            }
        }
        if current.redis.registry.is_none() {
            out.extend(
                history::registry_ids(history)
                    .into_iter()
                    .map(|id| Unknown::entity(NODE_DOWN, id)),
            );
        }
        if current.redis.keys.is_none() {
            out.extend(
                history::over_admitted_policies(history)
                    .into_iter()
                    .map(|p| Unknown::entity(OVER_ADMISSION, p)),
            );
        }
        out
    }
}

#[cfg(test)]
pub(crate) mod sample;
#[cfg(test)]
mod tests;
