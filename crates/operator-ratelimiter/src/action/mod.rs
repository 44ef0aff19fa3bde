//! The typed remediation actions of the rate limiter, and how they run.
//!
//! Everything acts on Redis directly, through the key schema and the policy scripts of
//! `ratelimiter-schema` (the same Lua the nodes run, so the version bump and the TTLs stay in one
//! place): the actions work even when no node can answer. Every action is idempotent and reports
//! what it changed.
//!
//! Layout: `catalog` ([`RateLimitAction`] and what each one does), `target` (the narrow handle an
//! action gets: Redis, the key prefix, the repair TTL, the last policies seen), `execute` (the
//! dispatch), `counters` (reset a key's counters, by names computed from the policies),
//! `repair` (give stuck keys their TTL, in bounded batches) and `policies` (update one window of
//! a policy, write back a lost policy set).

mod catalog;
mod counters;
mod execute;
mod policies;
mod repair;
mod target;

pub use catalog::RateLimitAction;
pub(crate) use execute::execute;
pub(crate) use target::{Target, VersionedPolicies};
