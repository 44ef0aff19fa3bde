//! What a trial of each [`Fault`] expects ([`Expectation`]): the ticket that must open and the
//! cause its diagnosis must name, the side tickets that may legitimately open meanwhile, how the
//! fault is repaired, and where it can be evaluated at all. `operator eval` judges its trials
//! against these; [`Expectation::classify`] sorts the tickets a trial saw.

use operator_ratelimiter::checker::{
    ABUSE_DETECTED, CLUSTER_OK, CONFIG_LOADED, COUNTER_DRIFT, FAILOVER_DETECTED, HIGH_LATENCY,
    NO_STUCK_KEYS, NODE_DOWN, OVER_ADMISSION, REDIS_HEALTHY, REPLICA_LIVE,
};
use serde::Serialize;

use super::fault::Fault;
use crate::chaos::expected::{Entity, Expected};

/// Which Redis a fault runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RedisNeed {
    /// One Redis or a Redis Cluster.
    Either,
    /// One Redis: the fault acts on the single Redis server (kill, restart, pause it, or a
    /// command sent to one instance: the policies dropped, the scripts flushed), which a
    /// cluster stack does not have.
    Single,
    /// A Redis Cluster (`--redis cluster`): the fault acts on a shard.
    Cluster,
}

/// How a fault is repaired in a trial.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Remedy {
    /// The stack heals itself (a restart, a pause ending, the nodes writing back what they
    /// hold): nothing to run.
    Itself,
    /// No action of the subject can repair it (a dead process): the fault's undo does.
    Undo,
    /// This action of the subject repairs it (run by the agent when it may); without the agent,
    /// the fault's undo.
    Action(&'static str),
}

/// What a trial of one fault expects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Expectation {
    /// The ticket that must open; `None` for a fault the stack heals faster than one
    /// observation interval: its heal is verified, and no ticket may last.
    pub fires: Option<Expected>,
    /// Invariants whose tickets may legitimately open meanwhile, on any entity (they must
    /// resolve before the trial ends).
    pub side: &'static [&'static str],
    /// How it is repaired.
    pub remedy: Remedy,
    /// Whether it needs an environment with a network of its own (compose): a partition.
    pub needs_network: bool,
    /// Whether only the local environment can carry it out: it restarts a node with other
    /// flags, or its undo puts back the local Redis's own settings.
    pub local_only: bool,
    /// Which Redis it runs on.
    pub redis: RedisNeed,
}

/// What a ticket seen during a trial is to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketClass {
    /// The ticket the fault must open.
    Expected,
    /// A side ticket the fault may open.
    Side,
    /// Neither: a false ticket.
    Unexpected,
}

/// Invariants a dead or frozen Redis may also fire: the nodes lose it (not ready, failure-mode
/// decisions, slow decisions), and a Redis that comes back empty has lost the policies.
const REDIS_OUTAGE: &[&str] = &[
    OVER_ADMISSION,
    NODE_DOWN,
    CONFIG_LOADED,
    HIGH_LATENCY,
    COUNTER_DRIFT,
];

impl Fault {
    /// What a trial of this fault expects.
    pub fn expectation(&self) -> Expectation {
        let expect = |invariant, entity, cause| {
            Some(Expected {
                invariant,
                entity,
                cause,
            })
        };
        match *self {
            Fault::KillRedis => Expectation {
                fires: expect(REDIS_HEALTHY, Entity::None, "redis_down"),
                side: REDIS_OUTAGE,
                remedy: Remedy::Undo,
                needs_network: false,
                local_only: false,
                redis: RedisNeed::Single,
            },
            Fault::RestartRedis => Expectation {
                fires: expect(CONFIG_LOADED, Entity::None, "redis_restarted_empty"),
                side: &[
                    REDIS_HEALTHY,
                    OVER_ADMISSION,
                    NODE_DOWN,
                    HIGH_LATENCY,
                    COUNTER_DRIFT,
                ],
                remedy: Remedy::Itself,
                needs_network: false,
                local_only: false,
                redis: RedisNeed::Single,
            },
            Fault::PauseRedis(_) => Expectation {
                fires: expect(REDIS_HEALTHY, Entity::None, "redis_down"),
                side: REDIS_OUTAGE,
                remedy: Remedy::Itself,
                needs_network: false,
                local_only: false,
                redis: RedisNeed::Single,
            },
            Fault::KillNode(n) => Expectation {
                fires: expect(NODE_DOWN, Entity::Node(n), "node_process_down"),
                // A node started afresh may answer its first decisions slowly.
                side: &[HIGH_LATENCY],
                remedy: Remedy::Undo,
                needs_network: false,
                local_only: false,
                redis: RedisNeed::Either,
            },
            // A graceful restart may be over before an observation sees the node gone.
            Fault::RestartNode(_) => Expectation {
                fires: None,
                side: &[NODE_DOWN, HIGH_LATENCY],
                remedy: Remedy::Itself,
                needs_network: false,
                local_only: false,
                redis: RedisNeed::Either,
            },
            Fault::StuckKeys(_) => Expectation {
                fires: expect(NO_STUCK_KEYS, Entity::None, "keys_without_ttl"),
                side: &[],
                remedy: Remedy::Action("repair_stuck_keys"),
                needs_network: false,
                local_only: false,
                // On a cluster its keys span the shards (each written to its slot's primary).
                redis: RedisNeed::Either,
            },
            Fault::DropPolicies => Expectation {
                fires: None,
                side: &[CONFIG_LOADED, COUNTER_DRIFT],
                remedy: Remedy::Itself,
                needs_network: false,
                local_only: false,
                redis: RedisNeed::Single,
            },
            Fault::ScriptFlush => Expectation {
                fires: None,
                side: &[HIGH_LATENCY],
                remedy: Remedy::Itself,
                needs_network: false,
                local_only: false,
                redis: RedisNeed::Single,
            },
            Fault::PartitionNode(n, _) => Expectation {
                fires: expect(NODE_DOWN, Entity::Node(n), "node_process_down"),
                side: &[HIGH_LATENCY],
                remedy: Remedy::Itself,
                needs_network: true,
                local_only: false,
                redis: RedisNeed::Either,
            },
            Fault::PartitionRedis(_) => Expectation {
                fires: expect(REDIS_HEALTHY, Entity::None, "redis_down"),
                side: REDIS_OUTAGE,
                remedy: Remedy::Itself,
                needs_network: true,
                local_only: false,
                redis: RedisNeed::Single,
            },
            // The old primary names the ticket (`failover_detected[old primary]`); the dead
            // instance's `redis_healthy` and a primary left without a replica come with it, and
            // `config_loaded` when the shard held the policies' slot and its replica took over
            // without them (a member restarted empty by an earlier trial, not yet resynced)
            // until the nodes re-seed.
            Fault::KillRedisPrimary(n) => Expectation {
                fires: expect(
                    FAILOVER_DETECTED,
                    Entity::ShardPrimary(n),
                    "redis_cluster_failover",
                ),
                side: &[
                    REDIS_HEALTHY,
                    REPLICA_LIVE,
                    CLUSTER_OK,
                    OVER_ADMISSION,
                    NODE_DOWN,
                    CONFIG_LOADED,
                ],
                remedy: Remedy::Undo,
                needs_network: false,
                local_only: false,
                redis: RedisNeed::Cluster,
            },
            Fault::Failover(n) => Expectation {
                fires: expect(
                    FAILOVER_DETECTED,
                    Entity::ShardPrimary(n),
                    "redis_cluster_failover",
                ),
                side: &[OVER_ADMISSION],
                remedy: Remedy::Itself,
                needs_network: false,
                local_only: false,
                redis: RedisNeed::Cluster,
            },
            // The node restarts with the other prefix (briefly down, slow first decisions); on
            // its own prefix it seeds its own policies, which may differ in version.
            Fault::KeyPrefixMismatch(n) => Expectation {
                fires: expect(COUNTER_DRIFT, Entity::Node(n), "key_prefix_mismatch"),
                side: &[NODE_DOWN, HIGH_LATENCY, CONFIG_LOADED],
                remedy: Remedy::Undo,
                needs_network: false,
                local_only: true,
                redis: RedisNeed::Either,
            },
            Fault::ClockDrift(n, _) => Expectation {
                fires: expect(COUNTER_DRIFT, Entity::Node(n), "clock_skew"),
                side: &[NODE_DOWN, HIGH_LATENCY],
                remedy: Remedy::Undo,
                needs_network: false,
                local_only: true,
                redis: RedisNeed::Either,
            },
            // Evicted counters, maybe the policies hash (re-seeded by the nodes), writes slowed
            // by eviction, and the nodes' memory guard (Redis near maxmemory) come with it.
            Fault::Eviction => Expectation {
                fires: expect(REDIS_HEALTHY, Entity::None, "eviction_under_maxmemory"),
                side: &[
                    CONFIG_LOADED,
                    OVER_ADMISSION,
                    COUNTER_DRIFT,
                    HIGH_LATENCY,
                    ABUSE_DETECTED,
                ],
                remedy: Remedy::Undo,
                needs_network: false,
                local_only: true,
                redis: RedisNeed::Single,
            },
            // Every node is slowed alike: node 1's ticket is the one expected, the others' are
            // the same fault seen on another node (side, like the monitor's slow PING and scan,
            // and the nodes restarted with a longer Redis timeout, briefly down).
            Fault::SlowRedis(..) => Expectation {
                fires: expect(HIGH_LATENCY, Entity::Node(1), "redis_slow_for_nodes"),
                side: &[HIGH_LATENCY, REDIS_HEALTHY, OVER_ADMISSION, NODE_DOWN],
                remedy: Remedy::Itself,
                needs_network: false,
                local_only: true,
                redis: RedisNeed::Single,
            },
            // Every node in naive mode warns (node 1's ticket is the one expected, the others'
            // the same fault on another node); a burst over-admits a policy's counters too. The
            // nodes restart into it, briefly down.
            Fault::NaiveMode => Expectation {
                fires: expect(
                    OVER_ADMISSION,
                    Entity::Node(1),
                    "non_atomic_check_and_increment",
                ),
                side: &[OVER_ADMISSION, NODE_DOWN, HIGH_LATENCY],
                remedy: Remedy::Undo,
                needs_network: false,
                local_only: true,
                redis: RedisNeed::Either,
            },
        }
    }
}

impl Expectation {
    /// Whether a trial can run in an environment with (`has_network`) or without a network of
    /// its own, on a Redis Cluster (`cluster`) or one Redis.
    pub fn evaluable(&self, has_network: bool, cluster: bool) -> bool {
        self.refusal(has_network, cluster).is_none()
    }

    /// Why a trial cannot run there, if it cannot (the reason, to follow the fault's name).
    pub fn refusal(&self, has_network: bool, cluster: bool) -> Option<&'static str> {
        if self.local_only && has_network {
            return Some(
                "is local only (it restarts a node with other flags, or its undo puts back the local Redis's settings): run it without --env compose",
            );
        }
        if self.needs_network && !has_network {
            return Some(
                "needs an environment with a network of its own (--env compose; local processes share the host's network)",
            );
        }
        match (self.redis, cluster) {
            (RedisNeed::Cluster, false) => Some("needs a Redis Cluster stack (--redis cluster)"),
            (RedisNeed::Single, true) => Some(
                "acts on a single Redis server, which a Redis Cluster stack does not have (run it without --redis cluster)",
            ),
            _ => None,
        }
    }

    /// What the ticket `what` (`invariant[entity]`) is to a trial that expects `expected` (the
    /// key of [`fires`](Self::fires), resolved to the stack's addresses).
    pub fn classify(&self, what: &str, expected: Option<&str>) -> TicketClass {
        if expected == Some(what) {
            return TicketClass::Expected;
        }
        let invariant = what.split_once('[').map_or(what, |(i, _)| i);
        if self.side.contains(&invariant) {
            TicketClass::Side
        } else {
            TicketClass::Unexpected
        }
    }
}

#[cfg(test)]
#[path = "expect_tests.rs"]
mod tests;
