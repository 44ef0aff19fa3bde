//! The rate-limit service of Envoy's API (`envoy.service.ratelimit.v3`) as a library: the
//! request model, envoyproxy/ratelimit's YAML configuration, the descriptor tree, the decision
//! ([`crate::Node::should_rate_limit`]) and its metrics. The gRPC server ([`crate::grpc`]) and
//! in-process callers share it.
//!
//! - `config`: [`DomainConfig`], one YAML file, parsed strictly (errors name the line).
//! - `rules`: [`DomainRules`], a domain compiled for lookup, each limit one of our policies
//!   (names under [`RLS_POLICY_PREFIX`], owned by the file: the management API refuses them).
//! - `descriptor`: [`RlsRequest`], [`Descriptor`], [`Entry`].
//! - `decide`: [`RlsAnswer`], [`RlsStatus`], [`RlsCode`].
//! - `loader`: loading files into the node and Redis, [`watch_envoy_configs`].
//! - `state`: what the node holds ([`RlsState`], [`FileStatus`]); `metrics`: [`RlsMetrics`].
//! - `error`: [`RlsConfigError`], [`RlsRequestError`].

pub mod config;
mod decide;
mod descriptor;
mod error;
mod loader;
pub mod metrics;
pub mod rules;
mod state;

pub use config::{DomainConfig, RateLimitConfig, Unit};
pub use decide::{RlsAnswer, RlsCode, RlsStatus};
pub use descriptor::{Descriptor, Entry, MAX_DESCRIPTORS, RlsRequest};
pub use error::{RlsConfigError, RlsRequestError};
pub use loader::{LoadOutcome, RECHECK, watch_envoy_configs};
pub use metrics::RlsMetrics;
pub use rules::{DomainRules, RLS_POLICY_PREFIX, Rule};
pub use state::{FileStatus, RlsState};
