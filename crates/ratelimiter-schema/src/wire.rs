//! JSON bodies of the node's HTTP API, and the node registry records stored in Redis.

use serde::{Deserialize, Serialize};

use crate::abuse::AbuseInfo;
use crate::code::ErrorCode;
use crate::failure::FailureMode;
use crate::policy::Policy;

/// A node is Down once its last heartbeat is older than this (three missed heartbeats of 1 s).
pub const NODE_DOWN_AFTER_MS: u64 = 3_000;
/// How often nodes heartbeat.
pub const HEARTBEAT_INTERVAL_MS: u64 = 1_000;

/// Body of `POST /v1/check`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    /// The key to limit (1 to 512 bytes; any characters).
    pub key: String,
    /// The weight of this request, 1 when absent; at most the smallest limit of the policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<u64>,
}

/// Body of a `POST /v1/check` answer (200 when allowed, 429 when denied), and of a 429 from
/// `GET /api/request`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResponse {
    /// Whether the request is admitted.
    pub allowed: bool,
    /// The limit of the reported window (under `gcra`: its capacity, the burst).
    pub limit: u64,
    /// Cost still available in the reported window after this decision (under `gcra`: whole
    /// units left in its bucket).
    pub remaining: u64,
    /// Milliseconds until the reported window's fixed window ends (under `gcra`: until its
    /// bucket is full again).
    pub reset_after_ms: u64,
    /// Milliseconds to wait before the same request can be admitted (0 when allowed).
    pub retry_after_ms: u64,
    /// The policy applied.
    pub policy: String,
    /// The reported window's label (`1s`, `1h`...): the denying window on a denial (the one with
    /// the longest wait), the one with the least remaining otherwise.
    pub window: String,
    /// The reported window's length.
    pub window_ms: u64,
    /// The node that decided.
    pub node: String,
    /// Set when Redis could not be used and the node decided by its failure mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub degraded: Option<FailureMode>,
}

/// The body of every 4xx/5xx answer: a stable machine-readable `error` code and a human `detail`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The stable code (`bad_request`, `redis_unavailable`, ...: see [`ErrorCode`]).
    pub error: ErrorCode,
    /// What exactly was wrong.
    pub detail: String,
}

/// Failure-mode decisions by mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureDecisions {
    /// Allowed without Redis (`open`).
    pub open: u64,
    /// Denied with 503 without Redis (`closed`).
    pub closed: u64,
    /// Decided in process (`local`), allowed or denied.
    pub local: u64,
}

/// Body of `GET /v1/node`: what this node is doing, as the operator sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// Node id (`--node-id`).
    pub node_id: String,
    /// Version of the node binary.
    pub version: String,
    /// Milliseconds since the process started.
    pub uptime_ms: u64,
    /// Decisions taken (allowed + denied + failure-mode decisions).
    pub decisions: u64,
    /// Decisions allowed (by Redis or by the failure mode).
    pub allowed: u64,
    /// Decisions denied (by Redis or by the failure mode).
    pub denied: u64,
    /// Allowed decisions that left less than 20 % of the reported window.
    pub near_limit: u64,
    /// Decisions taken without Redis, by mode.
    pub failure_decisions: FailureDecisions,
    /// Version of the policies this node has loaded (from the `version` field in Redis).
    pub policy_version: u64,
    /// [`PolicySet::digest`](crate::PolicySet::digest) of the policies this node has loaded.
    pub policy_digest: String,
    /// Number of policies loaded.
    pub policies_loaded: usize,
    /// Whether the policies were loaded from Redis at least once (else from the seed).
    pub policies_from_redis: bool,
    /// Round-trip time of the last Redis `PING` from this node, in microseconds.
    pub redis_rtt_us: Option<u64>,
    /// Whether the last Redis call of this node succeeded.
    pub redis_ok: bool,
    /// Redis errors (failed calls that were not timeouts).
    pub redis_errors: u64,
    /// Redis calls that ran past `--redis-timeout-ms`.
    pub redis_timeouts: u64,
    /// Decisions that did not call Redis because it kept failing (the node's circuit breaker
    /// was open); absent from nodes older than the breaker.
    #[serde(default)]
    pub redis_skipped: u64,
    /// Times the policies were (re)loaded from Redis.
    pub policy_reloads: u64,
    /// Nodes Up in the registry as last seen (used by the `local` failure mode).
    pub up_nodes: usize,
    /// This node's clock (Unix ms): the clock its `local` failure mode decides by, shifted by
    /// `--clock-offset-ms` when a test injects a skew; compared with Redis `TIME`.
    pub now_ms: u64,
    /// The Redis key prefix in use.
    pub key_prefix: String,
    /// The failure mode configured.
    pub failure_mode: FailureMode,
    /// A digest of the identifier secret (`--identifier-secret`), so that nodes whose secrets
    /// differ (and would split one client's limit) can be told apart without showing the secret;
    /// `None` when the node has no secret. Absent from older nodes.
    #[serde(default)]
    pub identifier_secret_digest: Option<String>,
    /// This node's clock (the one its `local` failure mode uses) minus Redis `TIME`, in ms, as the
    /// node measured it from its last Redis reply; `None` before any. Absent from older nodes.
    #[serde(default)]
    pub clock_skew_ms: Option<i64>,
    /// Abuse protection: enumeration and honeypot blocks, the memory guard. Absent from older
    /// nodes.
    #[serde(default)]
    pub abuse: AbuseInfo,
    /// How the node reaches Redis (`--redis-mode`). Absent from older nodes (single).
    #[serde(default)]
    pub redis_mode: crate::RedisMode,
    /// One entry per Redis primary the node decides on (one outside cluster mode), with its
    /// slots, round trip and health. Absent from older nodes.
    #[serde(default)]
    pub shards: Vec<crate::ShardInfo>,
    /// How the node decides (`--limiter-mode`): `atomic`, or a teaching mode that is not exact
    /// (`naive`, `memory`). Absent from older nodes (atomic).
    #[serde(default)]
    pub limiter_mode: crate::LimiterMode,
}

/// Up or Down, from the age of a node's last heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeState {
    /// Heartbeat younger than [`NODE_DOWN_AFTER_MS`].
    Up,
    /// Heartbeat older than that: crashed, frozen or cut off from Redis.
    Down,
}

impl NodeState {
    /// The state of a node whose last heartbeat is `age_ms` old.
    pub fn from_age(age_ms: u64) -> Self {
        if age_ms <= NODE_DOWN_AFTER_MS {
            NodeState::Up
        } else {
            NodeState::Down
        }
    }
}

/// One node as stored in the `nodes` hash in Redis (times are Redis `TIME`, Unix ms).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    /// Node id.
    pub id: String,
    /// Address it serves HTTP on.
    pub addr: String,
    /// Version of the node binary.
    pub version: String,
    /// Redis time of its first heartbeat since it started.
    pub started_ms: u64,
    /// Redis time of its last heartbeat.
    pub last_heartbeat_ms: u64,
}

/// One entry of `GET /v1/nodes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeEntry {
    /// Node id.
    pub id: String,
    /// Address it serves HTTP on.
    pub addr: String,
    /// Up or Down.
    pub state: NodeState,
    /// Age of its last heartbeat by Redis time, in ms.
    pub last_heartbeat_age_ms: u64,
    /// Redis time it started (first heartbeat), Unix ms.
    pub started_ms: u64,
    /// Version of its binary.
    pub version: String,
}

impl NodeEntry {
    /// The entry of `record` seen at Redis time `now_ms`.
    pub fn from_record(record: NodeRecord, now_ms: u64) -> Self {
        let age = now_ms.saturating_sub(record.last_heartbeat_ms);
        Self {
            id: record.id,
            addr: record.addr,
            state: NodeState::from_age(age),
            last_heartbeat_age_ms: age,
            started_ms: record.started_ms,
            version: record.version,
        }
    }
}

/// Body of `GET /v1/nodes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodesResponse {
    /// Redis time of the read, Unix ms.
    pub redis_now_ms: u64,
    /// Every registered node, sorted by id.
    pub nodes: Vec<NodeEntry>,
}

/// Body of `GET /v1/policies`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoliciesResponse {
    /// Version of the set.
    pub version: u64,
    /// Digest of the set.
    pub digest: String,
    /// The policies, sorted by name.
    pub policies: Vec<Policy>,
}

/// One counter in `GET /v1/counters`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterEntry {
    /// The user key.
    pub key: String,
    /// The policy.
    pub policy: String,
    /// The window length.
    pub window_ms: u64,
    /// The Redis key name.
    pub redis_key: String,
    /// Stored window index (`w`).
    pub window_index: u64,
    /// Cost counted in window `window_index` (`c`).
    pub current: u64,
    /// Cost counted in the window before (`p`).
    pub previous: u64,
    /// Remaining TTL in ms (-1: none, which must never happen; -2: gone meanwhile).
    pub ttl_ms: i64,
    /// How the key counts: absent for `sliding_window`, `gcra` for one window of a GCRA bucket
    /// (then `window_index`, `current` and `previous` are 0 and `tat_us` holds the state).
    #[serde(default, skip_serializing_if = "crate::Algorithm::is_default")]
    pub algorithm: crate::Algorithm,
    /// Under `gcra`: the window's theoretical arrival time, Unix µs of Redis time (the bucket
    /// is full again then; `(tat_us − now) / T` units are in use).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tat_us: Option<u64>,
}

/// Body of `GET /v1/counters`: one SCAN step. Continue with `next_cursor` until it is `"0"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountersPage {
    /// Cursor for the next page; `"0"` when the scan is complete.
    pub next_cursor: String,
    /// Counters found in this step (possibly none even when the scan is not complete).
    pub counters: Vec<CounterEntry>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_state_follows_heartbeat_age() {
        assert_eq!(NodeState::from_age(0), NodeState::Up);
        assert_eq!(NodeState::from_age(NODE_DOWN_AFTER_MS), NodeState::Up);
        assert_eq!(NodeState::from_age(NODE_DOWN_AFTER_MS + 1), NodeState::Down);
        let rec = NodeRecord {
            id: "a".into(),
            addr: "x".into(),
            version: "v".into(),
            started_ms: 1,
            last_heartbeat_ms: 10_000,
        };
        let entry = NodeEntry::from_record(rec, 9_000);
        assert_eq!(
            entry.last_heartbeat_age_ms, 0,
            "a heartbeat from the future is age 0"
        );
        assert_eq!(serde_json::to_value(entry.state).unwrap(), "Up");
    }

    #[test]
    fn check_request_cost_is_optional_and_unknown_fields_are_refused() {
        let r: CheckRequest = serde_json::from_str(r#"{"key": "user:42"}"#).unwrap();
        assert_eq!(r.cost, None);
        assert!(serde_json::from_str::<CheckRequest>(r#"{"key": "a", "kost": 1}"#).is_err());
    }
}
