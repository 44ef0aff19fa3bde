//! The distributed rate limiter as an operator subject.
//!
//! The rate limiter is one Redis and several `ratelimiter-node` processes sharing exact limits
//! through it. [`RateLimiterSubject`] observes both sides; [`RateLimiterChecker`] checks the
//! invariants that keep it correct over each [`Observation`]; [`RateLimitAction`] declares the
//! typed actions that repair it; `operator-core`'s monitor loop does the rest (timing, tickets).
//! Nothing here runs a loop or touches the ticket store.
//!
//! # Layout
//! - [`config`]: [`RateLimiterConfig`] (where Redis and the nodes are, the nodes' admin token,
//!   timeouts, the scan budget) and [`Thresholds`].
//! - [`observation`]: [`Observation`]: Redis as the monitor sees it (policies, node registry,
//!   key scan) and every node; each source that failed says why, and how ([`ErrorKind`]).
//! - `observe`: the gatherers, which know nothing of the subject: `redis_side` (PING, one
//!   pipeline of reads, then a bounded step of the incremental key scan, `scan`), `nodes`
//!   (`/readyz`, `/v1/node` with the node token, and `/metrics` of one node) and `clock` (Redis
//!   `TIME`, to tell the clock skew of nodes that do not measure their own). `redis_handle`: the one reconnecting Redis connection, every call
//!   bounded in time.
//! - [`subject`]: [`RateLimiterSubject`], the hub: it owns the connections and what is kept
//!   between observations (the scan's cursor and stuck keys, the last valid policy set), runs
//!   the gatherers concurrently and joins their parts, and hands the actions and the diagnosis
//!   only what they need.
//! - [`checker`]: [`RateLimiterChecker`] and the invariants `redis_healthy`, `no_stuck_keys`,
//!   `config_loaded`, `node_down`, `high_latency`, `counter_drift`, `over_admission` and
//!   `abuse_detected`, pure functions of an observation and its history, one module per concern.
//! - [`action`]: [`RateLimitAction`] (`reset_counter`, by key names computed from the policies;
//!   `update_policy`; `repair_stuck_keys`, in bounded batches; `reseed_policies`), run on Redis
//!   directly, given a narrow target (the Redis handle, the key
//!   prefix, the repair TTL, the last policies seen), never the subject.
//! - [`diagnosis`]: the offline diagnosis rules of every invariant, and the extra context of an
//!   incident ([`ContextSources`]: node log files; Redis `INFO`; failure-mode counts).
//! - [`topology`]: a Redis Cluster as the monitor sees it ([`topology::ClusterView`]: every
//!   primary and replica with its slots, from `CLUSTER NODES`), slots no live primary serves,
//!   failovers between two observations; `observe::cluster` reads it (`--redis-mode cluster`).
//!   [`topology::SentinelView`]: a set watched by Redis Sentinel (the current primary, the
//!   quorum, failovers), read by `observe::sentinel` (`--redis-mode sentinel`).
//! - [`info`], [`histogram`]: parsers for Redis `INFO` and Prometheus histograms.
//! - `error`: [`Error`], and [`ErrorKind`], how a request failed.
//! - `redact`: API keys in clear (counters written by older nodes, their logs) hidden wherever
//!   the monitor shows what it read.
//!
//! The Redis key schema is not defined here: it is the `ratelimiter-schema` crate, shared with
//! the nodes.
//!
//! # How it fails
//! An observation does not fail as a whole: [`RateLimiterSubject`]'s `observe` always returns
//! one (the monitor's own timeout is what bounds it), and every source that failed is reported
//! in it, with its error and its [`ErrorKind`]:
//! - Redis not answering PING (refused, or no answer within `redis_timeout`):
//!   `redis.reachable` is false and nothing else of Redis is read. `redis_healthy` fires
//!   (critical), and the checker declares *unknown* what cannot be told without Redis
//!   (`no_stuck_keys`, `config_loaded`, nodes known only from the registry, clock skew), so
//!   those alerts neither open nor resolve on data that was not read.
//! - Redis answering PING but failing the reads or the key scan: `redis.error` says which; what
//!   was read is kept, what was not is `None`, and unknown to the checker.
//! - A node not answering any of its three endpoints (each under `node_timeout`): `reachable`
//!   false, with the error; `node_down` fires, and what needs the node's report is unknown. A
//!   node answering some endpoints is reachable, the others named in its error. A node refusing
//!   the monitor's token (401, or 429 after wrong tokens) is [`ErrorKind::Unauthorized`]:
//!   `node_down` warns with what to pass (`--node-token`), and its report is unknown.
//! - A node answering that it is not ready (`/readyz` not 200) for a reason of its own: the
//!   first such answer after a good one is unknown to `node_down` (one slow readiness probe of
//!   Redis on a loaded machine must not open a ticket); the second in a row fires it.
//!
//! So `subject_unreachable` comes from this subject only when `observe` outlasts the monitor's
//! timeout. [`Error`] comes from building the subject (an invalid configuration) and from
//! actions (Redis failing or timing out, arguments that cannot apply);
//! [`Error::is_transient`] tells which are worth trying again.

pub mod action;
pub mod checker;
pub mod config;
pub mod diagnosis;
pub mod histogram;
pub mod info;
pub mod observation;
pub mod subject;
pub mod topology;

mod error;
mod observe;
mod redact;
mod redis_handle;

pub use action::RateLimitAction;
pub use checker::RateLimiterChecker;
pub use config::{RateLimiterConfig, RedisMode, Thresholds};
pub use diagnosis::ContextSources;
pub use error::{Error, ErrorKind, Result};
pub use observation::Observation;
pub use subject::{RateLimiterSubject, SUBJECT_NAME};
