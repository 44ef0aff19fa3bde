//! A load engine for rate-limiter nodes, reusable by the `ratelimiter-bench` command and the
//! operator (`operator load`, the demo).
//!
//! It drives HTTP decisions (`POST /v1/check` or `GET /api/request`) against one or several node
//! base URLs (round-robin by connection), either **closed loop** (a fixed number of workers, each
//! sending its next request when the previous answers) or **open loop** (a fixed rate; a request
//! sent late because the previous answer was slow is timed from its scheduled instant, so
//! queueing is not hidden), for a fixed duration,
//! with a hot key, many keys, a mix, or seed 002's skew ([`KeyPattern::seed_002`]: 80 % of
//! requests on the top 1,000 keys, 20 % on a tail of 100,000), and optional bursts; or
//! `GET /healthz`, the HTTP stack's own rate, for the ratio.
//!
//! # Layout
//! - [`config`]: [`LoadConfig`], [`LoadMode`], [`KeyPattern`], [`Endpoint`], [`Burst`].
//! - [`report`]: [`SecondStats`] (one per second, handed to a callback) and [`LoadReport`].
//! - [`run`]: the engine; it spawns one `worker` per connection (a request loop on one keep-alive
//!   connection), each drawing its keys from `keys` (a per-worker PRNG) and connecting to a
//!   `target` (the `http://host:port` base URLs, also checked by [`LoadConfig::validate`]).
//! - [`redis_stats`]: Redis `INFO commandstats` parsing, for commands (and script calls) per
//!   decision.
//! - [`oracle`]: what a run admitted against an exact sliding-window counter replayed offline
//!   from the run's own schedule ([`run_with_oracle`]): over-admission per fixed window, drift.
//! - [`grpc`]: the same closed loop over gRPC (Envoy's `ShouldRateLimit`, [`grpc::run_grpc`]),
//!   so one run compares gRPC and HTTP decisions/s.

pub mod config;
mod error;
pub mod grpc;
mod keys;
pub mod oracle;
pub mod redis_stats;
pub mod report;
mod run;
mod target;
mod worker;

pub use config::{
    Burst, DEFAULT_HOT_KEY, Endpoint, KeyPattern, LoadConfig, LoadMode, SEED_002_PREFIX,
};
pub use error::LoadError;
pub use oracle::{OraclePolicy, OracleReport};
pub use report::{LoadReport, Percentiles, SecondStats};
pub use run::{run, run_with_oracle};
