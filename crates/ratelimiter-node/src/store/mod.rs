//! Everything the node asks Redis, each call bounded by a timeout.
//!
//! One multiplexed, auto-reconnecting connection is shared by every request: concurrent
//! decisions are pipelined on it instead of queueing for a pool. It connects lazily, so a node
//! starts while Redis is down and reconnects by itself when Redis returns.
//!
//! - [`conn`]: that connection in each `--redis-mode` ([`RedisConn`]): a
//!   [`ConnectionManager`](redis::aio::ConnectionManager) on one Redis, redis-rs's cluster
//!   connection on a Redis Cluster, the primary named by Redis Sentinel.
//! - `lazy`: connections made on first use and again after a failure (cluster, sentinel).
//! - `handle`: [`Store`] itself, the connection, scripts and timeouts every call goes through.
//! - `script`: `EVALSHA`, and `EVAL` on `NOSCRIPT`, on the node owning the keys.
//! - `batch`: on one Redis, the decisions of concurrent requests leave in one pipeline (one
//!   write and one read for all of them), and `coalesce`: the same decision of one key by
//!   concurrent requests made in one script call, its reply split among them.
//! - `check`, the [decision](Store::check): the one command of the decision path (`EVALSHA` of
//!   `lua/check.lua`, or `lua/gcra.lua` for a `gcra` policy), skipped while its shard's
//!   [`breaker`] is open.
//! - `lease`: the near cache's calls ([`crate::near`]): a decision that may lease
//!   (`lua/lease.lua`), the give-back of unspent leases, the reset epoch.
//! - `naive`: the teaching mode `naive` ([`Store::check_naive`]): the same counters read in one
//!   call and incremented in another, so the check-then-increment race is real (not exact).
//! - [`breaker`]: stops decisions from waiting for a Redis that keeps failing.
//! - [`shards`]: the cluster's slot map and one breaker per primary, so a dead shard trips only
//!   its own keys; what the sampler saw of each primary.
//! - `policies`: load, poll the version, seed, put and delete (atomically with the version bump).
//! - `registry`: heartbeats, deregistration and the list of nodes.
//! - `counters`: cursor-paginated listing and reset of counters.
//! - `abuse`: the abuse script (client blocks, distinct API keys per client and minute).
//! - `server_info`: Redis memory and clock, sampled in the background on every primary, and the
//!   slot map refreshed.
//! - `rls`: the rate-limit service's atomic multi-descriptor check and the replacement of an
//!   envoy configuration domain's policies.

mod abuse;
mod batch;
pub mod breaker;
mod check;
mod coalesce;
pub mod conn;
mod counters;
mod handle;
mod lazy;
mod lease;
mod naive;
mod policies;
mod registry;
mod rls;
mod script;
mod server_info;
pub mod shards;

pub use abuse::{AbuseAsk, AbuseReply, AbuseState, KEYS_HLL_TTL_MS};
pub use check::CheckReply;
pub use conn::{ConnectOptions, RedisConn};
pub use handle::Store;
pub use lease::{LeaseReply, LeaseReturn};
pub use policies::StoredPolicies;
pub use rls::{RlsAsk, RlsReply};
pub use server_info::{RedisMemory, RedisTime, parse_memory};
