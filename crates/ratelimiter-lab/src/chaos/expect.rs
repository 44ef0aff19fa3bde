//! What a trial of each [`Fault`] expects ([`Expectation`]): the ticket that must open and the
//! cause its diagnosis must name, the side tickets that may legitimately open meanwhile, how the
//! fault is repaired, and where it can be evaluated at all. `operator eval` judges its trials
//! against these; [`Expectation::classify`] sorts the tickets a trial saw.

use operator_ratelimiter::checker::{
    CLUSTER_OK, CONFIG_LOADED, COUNTER_DRIFT, FAILOVER_DETECTED, HIGH_LATENCY, NO_STUCK_KEYS,
    NODE_DOWN, OVER_ADMISSION, REDIS_HEALTHY, REPLICA_LIVE,
};
use serde::Serialize;

use super::fault::Fault;

/// The ticket a fault must open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Expected {
    /// The invariant that must fire.
    pub invariant: &'static str,
    /// Its entity: the node (1-based) whose address names the ticket, or none (Redis-wide).
    pub node: Option<usize>,
    /// The offline diagnosis rule that must explain it (its id, e.g. `redis_down`).
    pub cause: &'static str,
}

impl Expected {
    /// The ticket's `invariant[entity]`, given the address of each node (`node_addr(1)` is the
    /// first node's `host:port`); `None` when the stack has no such node.
    pub fn key(&self, node_addr: impl Fn(usize) -> Option<String>) -> Option<String> {
        match self.node {
            None => Some(self.invariant.to_owned()),
            Some(n) => node_addr(n).map(|a| format!("{}[{a}]", self.invariant)),
        }
    }
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
    /// Whether it needs a Redis Cluster stack (`kill-redis-primary`, `failover`): declared for
    /// the catalog, not evaluated yet (`operator eval` runs a single-Redis stack).
    pub needs_cluster: bool,
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
        let expect = |invariant, node, cause| {
            Some(Expected {
                invariant,
                node,
                cause,
            })
        };
        match *self {
            Fault::KillRedis => Expectation {
                fires: expect(REDIS_HEALTHY, None, "redis_down"),
                side: REDIS_OUTAGE,
                remedy: Remedy::Undo,
                needs_network: false,
                needs_cluster: false,
            },
            Fault::RestartRedis => Expectation {
                fires: expect(CONFIG_LOADED, None, "redis_restarted_empty"),
                side: &[
                    REDIS_HEALTHY,
                    OVER_ADMISSION,
                    NODE_DOWN,
                    HIGH_LATENCY,
                    COUNTER_DRIFT,
                ],
                remedy: Remedy::Itself,
                needs_network: false,
                needs_cluster: false,
            },
            Fault::PauseRedis(_) => Expectation {
                fires: expect(REDIS_HEALTHY, None, "redis_down"),
                side: REDIS_OUTAGE,
                remedy: Remedy::Itself,
                needs_network: false,
                needs_cluster: false,
            },
            Fault::KillNode(n) => Expectation {
                fires: expect(NODE_DOWN, Some(n), "node_process_down"),
                // A node started afresh may answer its first decisions slowly.
                side: &[HIGH_LATENCY],
                remedy: Remedy::Undo,
                needs_network: false,
                needs_cluster: false,
            },
            // A graceful restart may be over before an observation sees the node gone.
            Fault::RestartNode(_) => Expectation {
                fires: None,
                side: &[NODE_DOWN, HIGH_LATENCY],
                remedy: Remedy::Itself,
                needs_network: false,
                needs_cluster: false,
            },
            Fault::StuckKeys(_) => Expectation {
                fires: expect(NO_STUCK_KEYS, None, "keys_without_ttl"),
                side: &[],
                remedy: Remedy::Action("repair_stuck_keys"),
                needs_network: false,
                needs_cluster: false,
            },
            Fault::DropPolicies => Expectation {
                fires: None,
                side: &[CONFIG_LOADED, COUNTER_DRIFT],
                remedy: Remedy::Itself,
                needs_network: false,
                needs_cluster: false,
            },
            Fault::ScriptFlush => Expectation {
                fires: None,
                side: &[HIGH_LATENCY],
                remedy: Remedy::Itself,
                needs_network: false,
                needs_cluster: false,
            },
            Fault::PartitionNode(n, _) => Expectation {
                fires: expect(NODE_DOWN, Some(n), "node_process_down"),
                side: &[HIGH_LATENCY],
                remedy: Remedy::Itself,
                needs_network: true,
                needs_cluster: false,
            },
            Fault::PartitionRedis(_) => Expectation {
                fires: expect(REDIS_HEALTHY, None, "redis_down"),
                side: REDIS_OUTAGE,
                remedy: Remedy::Itself,
                needs_network: true,
                needs_cluster: false,
            },
            // The old primary names the ticket (`failover_detected[old primary]`); the dead
            // instance's `redis_healthy` and a primary left without a replica come with it.
            Fault::KillRedisPrimary(_) => Expectation {
                fires: expect(FAILOVER_DETECTED, None, "redis_cluster_failover"),
                side: &[
                    REDIS_HEALTHY,
                    REPLICA_LIVE,
                    CLUSTER_OK,
                    OVER_ADMISSION,
                    NODE_DOWN,
                ],
                remedy: Remedy::Undo,
                needs_network: false,
                needs_cluster: true,
            },
            Fault::Failover(_) => Expectation {
                fires: expect(FAILOVER_DETECTED, None, "redis_cluster_failover"),
                side: &[OVER_ADMISSION],
                remedy: Remedy::Itself,
                needs_network: false,
                needs_cluster: true,
            },
        }
    }
}

impl Expectation {
    /// Whether a trial can run in an environment with (`true`) or without a network of its own.
    pub fn evaluable(&self, has_network: bool) -> bool {
        (has_network || !self.needs_network) && !self.needs_cluster
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
mod tests {
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
            if let Some(x) = e.fires {
                assert!(!e.side.contains(&x.invariant) || x.node.is_none(), "{f}");
            }
        }
    }

    #[test]
    fn a_node_fault_expects_that_node_only() {
        let e = Fault::KillNode(2).expectation();
        let addr = |n: usize| (n <= 3).then(|| format!("127.0.0.1:{}", 8000 + n));
        let key = e.fires.and_then(|x| x.key(addr)).unwrap();
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
            Fault::KillNode(4).expectation().fires.unwrap().key(addr),
            None
        );
    }

    #[test]
    fn a_redis_outage_allows_its_symptoms_and_nothing_else() {
        let e = Fault::KillRedis.expectation();
        let key = e.fires.and_then(|x| x.key(|_| None)).unwrap();
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
            assert!(e.evaluable(false));
        }
        assert_eq!(
            Fault::StuckKeys(5).expectation().remedy,
            Remedy::Action("repair_stuck_keys")
        );
        let p = Fault::PartitionRedis(Duration::from_secs(3)).expectation();
        assert!(!p.evaluable(false) && p.evaluable(true));
    }
}
