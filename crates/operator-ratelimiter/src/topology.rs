//! A Redis Cluster (and a set watched by Redis Sentinel, [`SentinelView`]) as the monitor sees it: every instance (primaries and replicas) with the slots
//! it serves, parsed from `CLUSTER NODES`, and what the topology says by itself (slots no live
//! primary serves) or compared with the one before (a failover). Plain data and pure functions;
//! the reads are in `observe::cluster`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::ErrorKind;
use crate::info::RedisInfo;

/// Number of hash slots of a Redis Cluster.
pub use ratelimiter_schema::cluster::SLOTS;

/// A Redis Cluster: its state and every instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ClusterView {
    /// The instance whose `CLUSTER NODES` and `CLUSTER INFO` were read (the first that answered).
    pub seen_from: Option<String>,
    /// Why no instance told the topology.
    pub error: Option<String>,
    /// `cluster_state` of `CLUSTER INFO` (`ok` or `fail`).
    pub state: Option<String>,
    /// `cluster_slots_assigned`.
    pub slots_assigned: Option<u64>,
    /// `cluster_slots_fail`: slots served by a primary the cluster agreed is down.
    pub slots_fail: Option<u64>,
    /// Every instance of `CLUSTER NODES`, primaries first, then by address.
    pub instances: Vec<InstanceView>,
    /// Slot ranges no live primary serves.
    pub uncovered: Vec<SlotRange>,
    /// Failovers seen recently (for the subject's `failover_memory`), oldest first.
    pub failovers: Vec<Failover>,
}

impl ClusterView {
    /// The primaries, in order.
    pub fn primaries(&self) -> impl Iterator<Item = &InstanceView> {
        self.instances.iter().filter(|i| i.role == Role::Primary)
    }

    /// The replicas of the primary `id`.
    pub fn replicas_of<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a InstanceView> {
        self.instances
            .iter()
            .filter(move |i| i.role == Role::Replica && i.primary_id.as_deref() == Some(id))
    }

    /// The instance with node id `id`.
    pub fn by_id(&self, id: &str) -> Option<&InstanceView> {
        self.instances.iter().find(|i| i.id == id)
    }
}

/// A primary or a replica; `primary` or `replica` in JSON and text.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, strum::Display,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Role {
    /// Serves slots (the shard's writes).
    Primary,
    /// Copies a primary, and takes over when it fails.
    Replica,
}

/// One Redis instance of the cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceView {
    /// `host:port`: the instance's identity in tickets.
    pub addr: String,
    /// Its cluster node id.
    pub id: String,
    /// Primary or replica, as the cluster says.
    pub role: Role,
    /// A replica's primary (node id).
    pub primary_id: Option<String>,
    /// The cluster agreed it is down (`fail`).
    pub failed: bool,
    /// Some instance suspects it is down (`fail?`).
    pub suspected: bool,
    /// The slots it serves.
    pub slots: Vec<SlotRange>,
    /// Whether it answered the monitor's PING.
    pub reachable: bool,
    /// Why not, or why a read failed.
    pub error: Option<String>,
    /// How that failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<ErrorKind>,
    /// PING round trip, microseconds.
    pub ping_us: Option<u64>,
    /// Parsed `INFO`.
    pub info: Option<RedisInfo>,
    /// `DBSIZE`.
    pub keys: Option<u64>,
    /// Its `TIME` minus the monitor's clock when it answered, ms: compared between primaries.
    pub clock_offset_ms: Option<i64>,
}

impl InstanceView {
    /// An instance as `CLUSTER NODES` lists it, not yet asked anything.
    fn listed(addr: String, id: String, role: Role) -> Self {
        Self {
            addr,
            id,
            role,
            primary_id: None,
            failed: false,
            suspected: false,
            slots: Vec::new(),
            reachable: false,
            error: None,
            error_kind: None,
            ping_us: None,
            info: None,
            keys: None,
            clock_offset_ms: None,
        }
    }

    /// Serves slots and is neither down nor unreachable.
    pub fn live(&self) -> bool {
        !self.failed && self.reachable
    }
}

/// Slots `start..=end`; written `start-end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SlotRange {
    /// First slot.
    pub start: u16,
    /// Last slot, included.
    pub end: u16,
}

impl std::fmt::Display for SlotRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.start == self.end {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}-{}", self.start, self.end)
        }
    }
}

/// Slot ranges written `0-5460, 10923-16383`.
pub fn ranges_text(ranges: &[SlotRange]) -> String {
    ranges
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A slot range served by another instance than at the observation before, which was a replica
/// of the one serving it then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failover {
    /// The slots that moved.
    pub slots: Vec<SlotRange>,
    /// The primary that served them (`host:port`).
    pub old_primary: String,
    /// Its replica that serves them now.
    pub new_primary: String,
    /// When the monitor saw it.
    pub at: DateTime<Utc>,
}

/// A primary set watched by Redis Sentinel (`--redis-mode sentinel`), as its sentinels tell it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SentinelView {
    /// The set's name (`--sentinel-master`).
    pub master: String,
    /// The current primary (`host:port`), as most answering sentinels name it.
    pub primary: Option<String>,
    /// The quorum of the set (`SENTINEL master`): sentinels needed to agree the primary is down.
    pub quorum: Option<u64>,
    /// Replicas of the primary that no sentinel reports down or disconnected.
    pub replicas_live: Option<u64>,
    /// Every configured sentinel.
    pub sentinels: Vec<SentinelPeer>,
    /// Changes of primary seen recently (no slots), oldest first.
    pub failovers: Vec<Failover>,
}

impl SentinelView {
    /// How many sentinels answered.
    pub fn answering(&self) -> u64 {
        self.sentinels.iter().filter(|s| s.reachable).count() as u64
    }
}

/// One sentinel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentinelPeer {
    /// Its URL, password redacted.
    pub url: String,
    /// Whether it answered.
    pub reachable: bool,
    /// The primary it names.
    pub primary: Option<String>,
    /// Why it did not answer.
    pub error: Option<String>,
}

/// Parses `CLUSTER NODES`. Lines that do not parse are skipped; import/migration markers
/// (`[slot->-id]`) are not slots served.
pub fn parse_cluster_nodes(text: &str) -> Vec<InstanceView> {
    let mut out: Vec<InstanceView> = text.lines().filter_map(parse_line).collect();
    out.sort_by(|a, b| (a.role, &a.addr).cmp(&(b.role, &b.addr)));
    out
}

fn parse_line(line: &str) -> Option<InstanceView> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.len() < 8 {
        return None;
    }
    let flags: Vec<&str> = fields[2].split(',').collect();
    if flags.contains(&"noaddr") || flags.contains(&"handshake") {
        return None;
    }
    // `ip:port@cport[,hostname]`
    let addr = fields[1].split(['@', ',']).next()?.to_owned();
    let role = if flags.contains(&"master") {
        Role::Primary
    } else {
        Role::Replica
    };
    let mut view = InstanceView::listed(addr, fields[0].to_owned(), role);
    view.primary_id = (fields[3] != "-").then(|| fields[3].to_owned());
    view.failed = flags.contains(&"fail");
    view.suspected = flags.contains(&"fail?");
    view.slots = fields[8..]
        .iter()
        .filter(|s| !s.starts_with('['))
        .filter_map(|s| parse_range(s))
        .collect();
    Some(view)
}

fn parse_range(s: &str) -> Option<SlotRange> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let (start, end) = (a.parse().ok()?, b.parse().ok()?);
    (start <= end && end < SLOTS).then_some(SlotRange { start, end })
}

/// The slot ranges no live primary serves: not assigned at all, or assigned to a primary that
/// failed or does not answer.
pub fn uncovered(instances: &[InstanceView]) -> Vec<SlotRange> {
    let mut covered = vec![false; usize::from(SLOTS)];
    for i in instances
        .iter()
        .filter(|i| i.role == Role::Primary && i.live())
    {
        for r in &i.slots {
            covered[usize::from(r.start)..=usize::from(r.end)].fill(true);
        }
    }
    let mut out = Vec::new();
    let mut start: Option<u16> = None;
    for slot in 0..SLOTS {
        match (covered[usize::from(slot)], start) {
            (false, None) => start = Some(slot),
            (true, Some(s)) => {
                out.push(SlotRange {
                    start: s,
                    end: slot - 1,
                });
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push(SlotRange {
            start: s,
            end: SLOTS - 1,
        });
    }
    out
}

/// The failovers between two topologies: slot ranges whose primary changed to an instance that
/// was a replica of the former primary (a resharding, which moves slots between primaries, is
/// no failover).
pub fn failovers(
    before: &[InstanceView],
    now: &[InstanceView],
    at: DateTime<Utc>,
) -> Vec<Failover> {
    let mut owner_before: BTreeMap<u16, &InstanceView> = BTreeMap::new();
    for i in before.iter().filter(|i| i.role == Role::Primary) {
        for r in &i.slots {
            owner_before.insert(r.start, i);
        }
    }
    let mut out: Vec<Failover> = Vec::new();
    for i in now.iter().filter(|i| i.role == Role::Primary) {
        for r in &i.slots {
            let Some(old) = owner_before.get(&r.start) else {
                continue;
            };
            let was_its_replica = before
                .iter()
                .any(|b| b.id == i.id && b.primary_id.as_deref() == Some(old.id.as_str()));
            if old.id == i.id || !was_its_replica {
                continue;
            }
            match out
                .iter_mut()
                .find(|f| f.old_primary == old.addr && f.new_primary == i.addr)
            {
                Some(f) => f.slots.push(*r),
                None => out.push(Failover {
                    slots: vec![*r],
                    old_primary: old.addr.clone(),
                    new_primary: i.addr.clone(),
                    at,
                }),
            }
        }
    }
    out
}

/// The slot of `key`, as Redis Cluster computes it: the schema's, which the nodes use too.
pub use ratelimiter_schema::cluster::key_slot;

#[cfg(test)]
mod tests;
