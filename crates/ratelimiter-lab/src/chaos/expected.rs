//! The ticket a trial of a fault must open ([`Expected`]) and what names it ([`Entity`]): a
//! node known before the fault, or a Redis Cluster shard's primary known only once the fault
//! acted on it.

use serde::Serialize;

/// What names the ticket a fault must open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Entity {
    /// No entity: the ticket is stack-wide (one Redis, the key space).
    None,
    /// Node N (1-based), by its `host:port`, known before the fault.
    Node(usize),
    /// The primary of Redis Cluster shard N (1 serves slot 0), by its `host:port`: known only
    /// when the fault is injected (a failover moves it), from [`FaultReport::entity`].
    ///
    /// [`FaultReport::entity`]: super::FaultReport::entity
    ShardPrimary(usize),
}

/// The ticket a fault must open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Expected {
    /// The invariant that must fire.
    pub invariant: &'static str,
    /// Its entity.
    pub entity: Entity,
    /// The offline diagnosis rule that must explain it (its id, e.g. `redis_down`).
    pub cause: &'static str,
}

impl Expected {
    /// The ticket's `invariant[entity]`, given the address of each node (`node_addr(1)` is the
    /// first node's `host:port`) and the address the fault acted on (`acted_on`, a shard's old
    /// primary); `None` when the stack has no such node, or the fault named no address.
    pub fn key(
        &self,
        node_addr: impl Fn(usize) -> Option<String>,
        acted_on: Option<&str>,
    ) -> Option<String> {
        match self.entity {
            Entity::None => Some(self.invariant.to_owned()),
            Entity::Node(n) => node_addr(n).map(|a| format!("{}[{a}]", self.invariant)),
            Entity::ShardPrimary(_) => acted_on.map(|a| format!("{}[{a}]", self.invariant)),
        }
    }

    /// The node named by the ticket, if it is a node's.
    pub fn node(&self) -> Option<usize> {
        match self.entity {
            Entity::Node(n) => Some(n),
            Entity::None | Entity::ShardPrimary(_) => None,
        }
    }

    /// `redis_healthy`, `node_down[<node 2>]`, `failover_detected[<primary of shard 1>]`: the
    /// ticket before its entity is resolved.
    pub fn describe(&self) -> String {
        match self.entity {
            Entity::None => self.invariant.to_owned(),
            Entity::Node(n) => format!("{}[<node {n}>]", self.invariant),
            Entity::ShardPrimary(n) => format!("{}[<primary of shard {n}>]", self.invariant),
        }
    }
}
