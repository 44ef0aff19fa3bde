//! What the operator tells the outside world: its tickets pushed to Alertmanager and webhooks,
//! and its own metrics for Prometheus. Generic over subjects: it sees only what the monitor loop
//! and the agent report.
//!
//! # Layout
//! - [`config`]: [`NotifyConfig`], the receivers and how hard delivery tries.
//! - [`book`]: [`Book`], the pure state of the alerts out (one per open ticket), turning each
//!   tick report and agent session into [`Notice`]s, with the periodic re-send.
//! - [`alertmanager`]: the API v2 alerts of a notice (labels, annotations, `startsAt`/`endsAt`).
//! - [`webhook`]: the JSON body of a notice for a webhook, with a Slack-compatible `text`.
//! - `receiver`: [`ReceiverKind`], `alertmanager` or `webhook`, as metrics and logs name them.
//! - `deliver`: one bounded queue per receiver, drained by a background task with retries and
//!   backoff; a full queue drops (and counts), so nothing waits on the network.
//! - [`notifier`]: [`Notifier`], the book and the queues together, fed by the caller.
//! - [`metrics`]: [`Metrics`], the operator's counters, gauges and histogram in Prometheus' text
//!   format, and [`metrics::serve`], its `GET /metrics` endpoint.
//! - [`outlets`]: [`Outlets`], the notifier and the metrics endpoint of one command, fed and
//!   stopped together.
//!
//! Failures: a delivery that fails is retried, then counted
//! (`operator_notifications_failed_total`) and logged with the receiver's scheme and host only (a
//! webhook's path is often its secret); it never reaches the caller.

pub mod alertmanager;
pub mod book;
pub mod config;
mod deliver;
mod error;
pub mod metrics;
pub mod notifier;
pub mod outlets;
mod receiver;
pub mod webhook;

pub use book::{AlertState, Book, Notice, NoticeKind};
pub use config::NotifyConfig;
pub use error::{Error, Result};
pub use metrics::Metrics;
pub use notifier::Notifier;
pub use outlets::Outlets;
pub use receiver::ReceiverKind;
