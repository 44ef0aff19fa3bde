//! Everything the node asks Redis, each call bounded by a timeout.
//!
//! One multiplexed, auto-reconnecting connection
//! ([`ConnectionManager`](redis::aio::ConnectionManager)) is shared by every request: concurrent
//! decisions are pipelined on it instead of queueing for a pool. It connects lazily, so a node
//! starts while Redis is down and reconnects by itself when Redis returns.
//!
//! - `handle`: [`Store`] itself, the connection, scripts and timeouts every call goes through.
//! - `check`, the [decision](Store::check): the one command of the decision path (`EVALSHA` of
//!   `lua/check.lua`, reloaded transparently on `NOSCRIPT`), skipped while the [`breaker`] is
//!   open.
//! - [`breaker`]: stops decisions from waiting for a Redis that keeps failing.
//! - `policies`: load, poll the version, seed, put and delete (atomically with the version bump).
//! - `registry`: heartbeats, deregistration and the list of nodes.
//! - `counters`: cursor-paginated listing and reset of counters.
//! - `abuse`: the abuse script (client blocks, distinct API keys per client and minute).
//! - `server_info`: Redis memory and clock, sampled in the background.
//! - `rls`: the rate-limit service's atomic multi-descriptor check and the replacement of an
//!   envoy configuration domain's policies.

mod abuse;
pub mod breaker;
mod check;
mod counters;
mod handle;
mod policies;
mod registry;
mod rls;
mod server_info;

pub use abuse::{AbuseAsk, AbuseReply, AbuseState, KEYS_HLL_TTL_MS};
pub use check::CheckReply;
pub use handle::Store;
pub use policies::StoredPolicies;
pub use rls::{RlsAsk, RlsReply};
pub use server_info::{RedisMemory, RedisTime, parse_memory};
