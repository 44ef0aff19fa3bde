//! The contract between the rate-limiter nodes (`ratelimiter-node`) and whatever watches them
//! (the operator's `operator-ratelimiter`).
//!
//! Nothing here talks to Redis or the network: this crate only names things, checks them, and
//! holds the Lua that writes the policy set, so both sides can depend on it without pulling in
//! each other.
//!
//! # Layout
//! - [`keys`]: the Redis key schema (every key name, its type, its TTL and who writes it), and
//!   [`keys::parse_counter_key`] to read a counter key name back.
//! - [`policy`]: [`Policy`], [`PolicySpec`] and [`Window`], their validation, glob matching,
//!   most-specific-match selection in a [`PolicySet`], and the set's canonical [digest](PolicySet::digest).
//! - [`scripts`]: the Lua scripts that write the policy set (seed, put, delete), run by the
//!   nodes and by the operator's repairs alike.
//! - [`wire`]: the JSON bodies of the node's HTTP API ([`NodeInfo`], [`NodeEntry`],
//!   [`CheckResponse`], [`ErrorBody`], ...).
//! - [`abuse`]: what a node reports about abuse ([`AbuseInfo`]: enumeration and honeypot blocks,
//!   the memory guard), clients only as fingerprints.
//! - [`fingerprint`]: keyed fingerprints of client identifiers (`api:fp-...`) and the digest of
//!   the identifier secret the nodes publish, so no API key is ever kept in clear.
//! - [`ErrorCode`]: the stable codes of the node's error answers (`"error"` of an [`ErrorBody`]).
//! - [`FailureMode`]: what a node does when Redis cannot answer.
//! - [`LimiterMode`]: how a node decides: `atomic` (exact), or the teaching modes `naive` and
//!   `memory`, which are not.
//! - [`cluster`]: how a node reaches Redis ([`RedisMode`]: single, cluster, sentinel), what it
//!   reports per shard ([`ShardInfo`]), and the cluster slot of a key ([`cluster::key_slot`]).

pub mod abuse;
pub mod cluster;
mod code;
mod error;
mod failure;
pub mod fingerprint;
mod glob;
pub mod keys;
mod limiter_mode;
pub mod policy;
pub mod scripts;
pub mod wire;

pub use abuse::{AbuseInfo, BlockReason, BlockedClient, MemoryGuardInfo};
pub use cluster::{RedisMode, ShardInfo};
pub use code::ErrorCode;
pub use error::{KeyError, PolicyError};
pub use failure::FailureMode;
pub use fingerprint::{fingerprint_identifier, secret_digest};
pub use keys::CounterKey;
pub use limiter_mode::{LimiterMode, ParseLimiterModeError};
pub use policy::{Algorithm, Policy, PolicySet, PolicySpec, Window};
pub use wire::{
    CheckRequest, CheckResponse, CounterEntry, CountersPage, ErrorBody, FailureDecisions,
    NodeEntry, NodeInfo, NodeRecord, NodeState, NodesResponse, PoliciesResponse,
};
