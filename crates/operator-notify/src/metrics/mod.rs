//! The operator's own metrics, in Prometheus' text format: [`Metrics`] (the registry, fed by
//! monitor ticks, agent sessions and notification deliveries, in `registry.rs`), the text
//! exposition helpers (`text.rs`) and the HTTP endpoint ([`serve`], in `serve.rs`).

mod registry;
mod serve;
mod text;

pub use self::registry::{Delivery, Metrics, OBSERVATION_BUCKETS};
pub use self::serve::{app, serve};
