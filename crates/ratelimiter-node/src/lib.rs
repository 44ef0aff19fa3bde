//! A distributed rate-limiter node: several identical nodes behind a load balancer share their
//! counters and policies in Redis and enforce exactly the same limits.
//!
//! Each decision is one Redis command: `EVALSHA` of a Lua script (sliding window or GCRA, by
//! the policy's algorithm) that reads Redis `TIME`, checks and consumes every window of the key's
//! policy atomically, and sets every key's TTL in the same call. When Redis is down or slow past the timeout, the node decides by its
//! [`FailureMode`](ratelimiter_schema::FailureMode) and recovers by itself.
//!
//! That is `--limiter-mode atomic`, the default. The teaching modes `naive` (read, decide, then
//! increment in a second call: `store`'s `check_naive`) and `memory` (counters in this process
//! only) are not exact and exist to show why atomicity matters
//! ([`LimiterMode`](ratelimiter_schema::LimiterMode)); a node in one says so at start, in
//! `/v1/node` (`limiter_mode`) and in `/metrics` (`ratelimiter_limiter_mode`).
//!
//! # Layout
//! - [`config`]: [`Config`], validated once, and the TOML policy seed file.
//! - [`node`]: [`Node`], the state shared by handlers and background loops.
//! - [`decide`]: one decision ([`Decision`], and the window it [`Reported`]): policy selection,
//!   Redis, failure mode.
//! - [`algorithm`]: the sliding-window arithmetic as a pure function (mirrors `lua/check.lua`);
//!   [`gcra`]: the GCRA arithmetic of `gcra` policies (mirrors `lua/gcra.lua`).
//! - [`local`]: the in-process limiter of the `local` failure mode (and of the memory guard).
//! - [`abuse`]: enumeration and honeypot blocks, and the memory guard against key floods.
//! - [`store`]: every Redis call, each bounded by a timeout, on one Redis, a Redis Cluster (one
//!   circuit breaker per primary) or the primary named by Redis Sentinel.
//! - `sync` and `background`: policy polling/seeding, heartbeats, and sampling Redis memory and
//!   clock (memory guard, clock skew).
//! - [`http`]: the axum API, [`app`] and [`serve`]; every error answer is an [`http::ApiError`]
//!   whose code is a [`ratelimiter_schema::ErrorCode`].
//! - [`metrics`]: counters and their Prometheus rendering.
//! - [`near`]: the near cache (`--near-cache`): cached denials and leased quota, so hot keys
//!   are decided without a Redis call and nothing Redis would deny is admitted.
//! - [`otel`]: one OpenTelemetry span per decision, when the binary installs a tracer
//!   (`--otlp-endpoint`), child of the caller's W3C `traceparent`.
//! - [`probe`]: a one-shot HTTP probe for container health checks (`--probe URL`).
//! - [`rls`]: Envoy's rate-limit service as a library ([`Node::should_rate_limit`]) and
//!   envoyproxy/ratelimit's YAML configuration; [`grpc`]: its gRPC server ([`grpc::serve_grpc`]).
//!
//! The Redis key schema, the wire types and the API's error codes are in the shared crate
//! [`ratelimiter_schema`].
//!
//! # Tracing
//! Events carry only their own fields; the node's id is a field (`node`) of the span around
//! them: `serve`, `policy_loop`, `heartbeat_loop`, `policy_reload` (with its `trigger`) and, at
//! debug level so that it costs nothing under the default filter, `decide` (with the `policy`
//! and whether it was `allowed`). Errors are in an `error` field.

pub mod abuse;
pub mod algorithm;
mod background;
pub mod config;
pub mod decide;
mod error;
pub mod gcra;
pub mod grpc;
pub mod http;
pub mod local;
pub mod metrics;
pub mod near;
pub mod node;
pub mod otel;
pub mod probe;
pub mod rls;
pub mod store;
mod sync;
mod traced;

pub use config::Config;
pub use decide::{DecideError, Decision, Reported};
pub use error::{ConfigError, StoreError};
pub use http::{app, serve};
pub use node::Node;
pub use sync::SyncOutcome;
