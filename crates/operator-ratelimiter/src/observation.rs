//! What one observation of the rate limiter contains. Plain data, serialized into tickets and
//! diagnosis context; every source that failed says why instead of being absent.

use chrono::{DateTime, Utc};
use ratelimiter_schema::keys;
use ratelimiter_schema::{NodeEntry, NodeInfo, Policy};
use serde::{Deserialize, Serialize};

use crate::error::ErrorKind;
use crate::histogram::Histogram;
use crate::info::RedisInfo;
use crate::topology::{ClusterView, SentinelView};

/// One observation of Redis and every configured node, taken concurrently.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// When the observation started.
    pub observed_at: DateTime<Utc>,
    /// The key prefix watched.
    pub key_prefix: String,
    /// Redis, as the monitor sees it.
    pub redis: RedisView,
    /// Every configured node, in configuration order.
    pub nodes: Vec<NodeView>,
}

impl Observation {
    /// The node observed at `addr`.
    pub fn node(&self, addr: &str) -> Option<&NodeView> {
        self.nodes.iter().find(|n| n.addr == addr)
    }
}

/// Redis as seen from the monitor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct RedisView {
    /// The URL, password redacted.
    pub url: String,
    /// Whether it answered PING.
    pub reachable: bool,
    /// Why not, or why a later read failed.
    pub error: Option<String>,
    /// How that failed, when `error` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<ErrorKind>,
    /// PING round trip, microseconds.
    pub ping_us: Option<u64>,
    /// Parsed `INFO`.
    pub info: Option<RedisInfo>,
    /// Redis `TIME`, Unix milliseconds.
    pub time_ms: Option<u64>,
    /// The policies stored in Redis.
    pub policies: Option<PolicyView>,
    /// Nodes registered through heartbeats, with their state by Redis time.
    pub registry: Option<Vec<NodeEntry>>,
    /// The incremental TTL and counter scan (of every primary, on a cluster).
    pub keys: Option<KeyScan>,
    /// `--redis-mode cluster`: every instance of the cluster, its state and recent failovers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterView>,
    /// `--redis-mode sentinel`: the current primary, the sentinels and their quorum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentinel: Option<SentinelView>,
}

/// The policies hash in Redis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct PolicyView {
    /// Whether the hash exists.
    pub present: bool,
    /// Its version field.
    pub version: Option<u64>,
    /// Digest of the parseable policies (as the nodes compute it).
    pub digest: Option<String>,
    /// The parseable policies.
    pub policies: Vec<Policy>,
    /// Fields that could not be parsed, with the reason.
    pub invalid: Vec<InvalidField>,
}

/// A field of the policies hash that is not a valid policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvalidField {
    /// The hash field.
    pub field: String,
    /// Why it is invalid.
    pub error: String,
}

/// Progress and findings of the incremental scan of the prefix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct KeyScan {
    /// Keys under the prefix found (and checked) by this observation.
    pub scanned: u64,
    /// Keys of the whole database the `SCAN` calls of this observation walked (about `COUNT` per
    /// call): the cost per tick, bounded by the scan budget whatever the keyspace size.
    #[serde(default)]
    pub examined: u64,
    /// `SCAN` cursor after this observation (0: the pass finished).
    pub cursor: u64,
    /// Full passes over the prefix completed since the monitor started.
    pub passes: u64,
    /// Keys in the database (`DBSIZE`), for scale.
    pub dbsize: Option<u64>,
    /// Keys under the prefix without a TTL, as known now (found by the scan and re-checked every
    /// observation), sorted; at most `stuck_total` of them.
    pub stuck: Vec<StuckKey>,
    /// How many stuck keys are known.
    pub stuck_total: usize,
    /// Counters holding more than their window's limit in the current window.
    pub over_admitted: Vec<OverAdmitted>,
}

/// A key without a TTL.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StuckKey {
    /// The Redis key.
    pub key: String,
    /// What it is, by the key schema.
    pub kind: KeyKind,
}

/// What a key under the prefix is, by the key schema; `counter`, `nodes`, `other` or `policies`
/// in JSON and text. Declared in alphabetical order, the order diagnoses list kinds in.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, strum::Display,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum KeyKind {
    /// A counter of one user key in one window of one policy, or the GCRA bucket of one user
    /// key under one `gcra` policy.
    Counter,
    /// The node registry hash, written by the nodes' heartbeats.
    Nodes,
    /// None of the schema's keys: another writer's.
    Other,
    /// The policies hash.
    Policies,
}

impl KeyKind {
    /// The kind of key `name` under `prefix`.
    pub fn of(prefix: &str, name: &str) -> Self {
        if keys::parse_counter_key(prefix, name).is_some()
            || keys::parse_gcra_key(prefix, name).is_some()
        {
            KeyKind::Counter
        } else if name == keys::policies_key(prefix) {
            KeyKind::Policies
        } else if name == keys::nodes_key(prefix) {
            KeyKind::Nodes
        } else {
            KeyKind::Other
        }
    }
}

/// A counter over its limit (for a GCRA bucket: more units in use than its burst, with `count`
/// the units in use and `limit` the burst).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverAdmitted {
    /// The user key.
    pub key: String,
    /// The policy.
    pub policy: String,
    /// The window length.
    pub window_ms: u64,
    /// Cost admitted in the current window.
    pub count: u64,
    /// The window's limit, per the policies in Redis.
    pub limit: u64,
}

/// One configured node, as seen from the monitor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct NodeView {
    /// Base URL, as configured.
    pub url: String,
    /// `host:port` of the URL: the node's identity in tickets (known even when it is down).
    pub addr: String,
    /// Whether any of its endpoints answered.
    pub reachable: bool,
    /// Why not, or why one of its endpoints failed.
    pub error: Option<String>,
    /// How that failed, when `error` is set (the most telling kind when endpoints failed
    /// differently).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<ErrorKind>,
    /// `/readyz` said 200.
    pub ready: Option<bool>,
    /// `/readyz` body when not ready.
    pub ready_reason: Option<String>,
    /// `/v1/node`.
    pub info: Option<NodeInfo>,
    /// Decision latency histogram from `/metrics` (cumulative since the node started).
    pub latency: Option<Histogram>,
    /// Node clock minus Redis `TIME`, in ms: as the node measured it when it reports one (the
    /// clock its `local` failure mode uses), else as the monitor tells it, corrected for when
    /// each answer arrived.
    pub clock_skew_ms: Option<i64>,
    /// Who measured `clock_skew_ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_skew_source: Option<SkewSource>,
}

/// Who measured a node's clock skew: `node` (its own clock against the `TIME` of its Redis
/// replies) or `monitor` (the node's `now_ms` against Redis `TIME` read by the monitor, for nodes
/// that do not report a skew).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::Display)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum SkewSource {
    /// The node measured it.
    Node,
    /// The monitor estimated it.
    Monitor,
}

impl NodeView {
    /// The node id, when it answered `/v1/node`.
    pub fn id(&self) -> Option<&str> {
        self.info.as_ref().map(|i| i.node_id.as_str())
    }

    /// `id (addr)` or `addr`, for messages.
    pub fn label(&self) -> String {
        match self.id() {
            Some(id) if id != self.addr => format!("{id} ({})", self.addr),
            _ => self.addr.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn key_kinds_keep_their_stored_names() {
        let p = "ratelimit:";
        let counter = keys::counter_key(p, "user:1", "default", 1_000);
        let bucket = keys::gcra_key(p, "user:1", "api");
        let kinds = [
            (counter.as_str(), KeyKind::Counter, "counter"),
            (bucket.as_str(), KeyKind::Counter, "counter"),
            ("ratelimit:{shared}:policies", KeyKind::Policies, "policies"),
            ("ratelimit:{shared}:nodes", KeyKind::Nodes, "nodes"),
            ("ratelimit:junk", KeyKind::Other, "other"),
        ];
        for (key, kind, name) in kinds {
            assert_eq!(KeyKind::of(p, key), kind, "{key}");
            assert_eq!(kind.to_string(), name);
            let stuck = StuckKey {
                key: key.to_owned(),
                kind,
            };
            let wire = json!({ "key": key, "kind": name });
            assert_eq!(serde_json::to_value(&stuck).unwrap(), wire);
            assert_eq!(serde_json::from_value::<StuckKey>(wire).unwrap(), stuck);
        }
    }

    #[test]
    fn error_kinds_are_added_to_the_wire_form_only_where_something_failed() {
        let down = NodeView {
            url: "http://127.0.0.1:8002".into(),
            addr: "127.0.0.1:8002".into(),
            error: Some("connection refused".into()),
            error_kind: Some(ErrorKind::Refused),
            ..Default::default()
        };
        let wire = serde_json::to_value(&down).unwrap();
        assert_eq!(wire["error"], "connection refused");
        assert_eq!(wire["error_kind"], "refused");
        let up = serde_json::to_value(NodeView::default()).unwrap();
        assert!(up.get("error_kind").is_none(), "{up}");
        // Observations written before the kind existed still read.
        let mut old = wire;
        old.as_object_mut().unwrap().remove("error_kind");
        let read: NodeView = serde_json::from_value(old).unwrap();
        assert_eq!((read.error, read.error_kind), (down.error, None));
    }
}
