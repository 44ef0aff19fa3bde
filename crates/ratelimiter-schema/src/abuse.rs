//! What a node reports about abuse of its decision endpoints (`abuse` in `GET /v1/node`): key
//! enumeration, honeypot keys, and the memory guard against floods of unique keys.
//!
//! Clients appear here only as fingerprints (never an address or an API key in clear), so the
//! report can go into tickets and diagnosis context as it is.

use serde::{Deserialize, Serialize};

/// Most recent blocks a node keeps for [`AbuseInfo::recent_blocks`].
pub const RECENT_BLOCKS: usize = 20;

/// Why a client was blocked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockReason {
    /// It tried more distinct API keys in a minute than `--enumeration-limit`.
    Enumeration,
    /// It used one of the `--honeypot-keys`.
    Honeypot,
}

/// One client this node blocked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockedClient {
    /// The client's fingerprint (keyed by the identifier secret, as API keys are).
    pub client: String,
    /// Why it was blocked.
    pub reason: BlockReason,
    /// Distinct API keys counted for it in the minute that blocked it (enumeration only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distinct_keys: Option<u64>,
    /// When it was blocked (Redis time, Unix ms).
    pub at_ms: u64,
    /// Until when (Redis time, Unix ms).
    pub until_ms: u64,
}

/// The memory guard: when Redis is near `maxmemory`, keys without a counter yet are limited in
/// process instead of creating new Redis keys.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MemoryGuardInfo {
    /// `--memory-guard-ratio`: the share of `maxmemory` above which the guard is on (0: off).
    pub ratio: f64,
    /// Whether the guard is on now.
    pub active: bool,
    /// Redis `used_memory` at the last reading, bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used_memory: Option<u64>,
    /// Redis `maxmemory` at the last reading, bytes (0: no limit, the guard never turns on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maxmemory: Option<u64>,
    /// Decisions of new keys taken in process because the guard was on.
    pub guarded_decisions: u64,
}

/// Body of `abuse` in `GET /v1/node`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AbuseInfo {
    /// `--enumeration-limit`: distinct API keys per client address per minute (0: off).
    pub enumeration_limit: u64,
    /// Clients this node blocked for enumeration since it started.
    pub enumeration_blocks: u64,
    /// Requests that used a honeypot key, since start.
    pub honeypot_hits: u64,
    /// Requests refused because their client was blocked (by any node), since start.
    pub blocked_requests: u64,
    /// The last blocks this node made, newest first, at most [`RECENT_BLOCKS`].
    pub recent_blocks: Vec<BlockedClient>,
    /// The memory guard.
    pub memory_guard: MemoryGuardInfo,
}
