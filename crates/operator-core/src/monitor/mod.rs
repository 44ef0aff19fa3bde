//! [`MonitorLoop`]: observe a subject on a fixed interval, check its invariants, keep tickets.
//!
//! Each [`tick`](MonitorLoop::tick) observes the subject once (bounded by a timeout), hands the
//! observation and the recent history to the checker, runs the violations through the alert state
//! machine ([`crate::alert`]) with each invariant's pending and keep-firing periods, and opens,
//! updates or resolves tickets accordingly. A failed or timed-out observation is itself a critical
//! violation, [`SUBJECT_UNREACHABLE`], and freezes every other alert: what could not be seen is
//! never taken as cleared. [`run`](MonitorLoop::run) repeats ticks until shutdown.
//!
//! A tick reads the clocks once, at its start: its report, the tickets it opens or resolves and
//! their snapshots all carry that time. The loop and its schedule are in `monitor_loop.rs`; what
//! each alert update does to the ticket store (and which ticket tracks which violation) in
//! `tickets.rs`; the report of a tick in `report.rs`; the configuration in `config.rs`; the schedule of
//! retention (resolved tickets past [`MonitorConfig::retention`] deleted at the first tick and
//! then hourly) in `retention.rs`.

mod config;
mod monitor_loop;
mod report;
mod retention;
mod tickets;

pub use self::config::{DEFAULT_RETENTION, MonitorConfig};
pub use self::monitor_loop::{MonitorLoop, RunSummary};
pub use self::report::{Active, Event, TickReport};
pub use crate::observe::SUBJECT_UNREACHABLE;
