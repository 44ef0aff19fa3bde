//! The distributed rate limiter as a subject of the operator.
//!
//! The rate limiter is one Redis and several `ratelimiter-node` processes sharing exact limits
//! through it. This crate observes both sides, checks the invariants that keep it correct, and
//! declares the typed actions that repair it.
//!
//! # Layout
//! - [`config`]: [`RateLimiterConfig`] (where Redis and the nodes are) and [`Thresholds`].
//! - [`observation`]: what one observation holds ([`Observation`]).
//! - `observe`: the gatherers of an observation (Redis, each node, the key scan), each bounded
//!   by its own timeout; `redis_handle`: the one reconnecting Redis connection.
//! - [`subject`]: [`RateLimiterSubject`], the hub that runs the gatherers and joins them.
//! - [`checker`]: [`RateLimiterChecker`], pure functions of an observation and its history.
//! - [`action`]: [`RateLimitAction`], what the operator may do, and how it runs.
//! - [`diagnosis`]: the offline diagnosis rules of every invariant, and the extra context of an
//!   incident ([`ContextSources`]: node log files; Redis `INFO`; failure-mode counts).
//! - [`info`], [`histogram`]: parsers for Redis `INFO` and Prometheus histograms.
//!
//! The Redis key schema is not defined here: it is the `ratelimiter-schema` crate, shared with
//! the nodes.

pub mod action;
pub mod checker;
pub mod config;
pub mod diagnosis;
mod error;
pub mod histogram;
pub mod info;
pub mod observation;
mod observe;
mod redis_handle;
pub mod subject;

pub use action::RateLimitAction;
pub use checker::RateLimiterChecker;
pub use config::{RateLimiterConfig, Thresholds};
pub use diagnosis::ContextSources;
pub use error::{Error, Result};
pub use observation::Observation;
pub use subject::{RateLimiterSubject, SUBJECT_NAME};

/// The former name of [`checker`], kept so that paths such as `invariants::NODE_DOWN` resolve.
pub use checker as invariants;
