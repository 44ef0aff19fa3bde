//! Traces exported over OTLP: the node's decisions and the operator's ticks.
//!
//! # Layout
//! - [`config`]: [`OtlpConfig`] (endpoint, [`Protocol`], sample ratio, service name), checked
//!   once, and the helpers binaries use to read the standard `OTEL_EXPORTER_OTLP_*` variables
//!   as fallbacks of their own flags.
//! - [`pipeline`]: [`install`] builds the tracer provider (a parent-based ratio sampler, a batch
//!   span processor running on the Tokio runtime) and returns the [`OtlpGuard`] that hands out
//!   the [`Tracer`], a `tracing_opentelemetry` layer, and flushes on
//!   [`shutdown`](OtlpGuard::shutdown).
//! - [`propagation`]: the caller's W3C `traceparent` as the parent [`Context`].
//! - `quiet`: the exporter wrapper that logs failed exports at most once a minute.
//!
//! # How it fails
//! Never in the traced code's path. Spans go to a bounded queue that drops when full; exports run
//! on their own task with a timeout, so a collector that is down, slow or refusing costs the
//! traced code nothing but the queueing of its sampled spans, and is reported by a `warn` event
//! at most once a minute (with how many spans were lost). Only building the exporter from a bad
//! endpoint fails ([`OtlpError`]), before anything is traced.

pub mod config;
mod error;
pub mod pipeline;
pub mod propagation;
mod quiet;

pub use config::{OtlpConfig, Protocol};
pub use error::OtlpError;
pub use opentelemetry::Context;
pub use opentelemetry_sdk::trace::{SdkTracer as Tracer, Span as SdkSpan};
pub use pipeline::{OtlpGuard, install};
pub use propagation::parent_context;
