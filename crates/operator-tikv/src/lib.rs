//! A TiKV cluster as an operator subject.
//!
//! [`TikvSubject`] observes the cluster through PD's HTTP API and Prometheus; [`TikvChecker`]
//! checks its invariants over each [`TikvObservation`]; `operator-core`'s monitor loop does the
//! rest (timing, tickets). Nothing here runs a loop or touches the ticket store.
//!
//! # Layout
//! - [`config`]: [`TikvConfig`] (PD endpoints, Prometheus URL, timeouts) and [`Thresholds`].
//! - [`observation`]: [`TikvObservation`]: stores, PD members, metrics, and how fresh each is.
//! - `pd` and `prometheus`: the HTTP clients (four PD requests and two Prometheus queries per
//!   observation, concurrently, whatever the cluster's size); `bytesize` reads PD's `"98.31GiB"`.
//! - [`subject`]: [`TikvSubject`], which joins them: metrics are matched to stores by the address
//!   Prometheus scrapes (the store's status address, port 20180), not its service address.
//! - [`checker`]: [`TikvChecker`] and the invariants `store_down`, `pd_unhealthy`,
//!   `high_latency`, `low_disk_space`, `leader_imbalance` and `prometheus_unreachable`, pure
//!   functions of an observation, one module per concern.
//! - [`diagnosis`]: offline diagnosis rules per invariant and the extra context of an incident
//!   (the stores and PD members at a glance).
//! - `simulator` (feature `simulator`): PD and Prometheus HTTP simulators for tests.
//!
//! # When PD or Prometheus cannot be reached
//! PD is the source of truth for stores. If no configured PD endpoint answers the store list,
//! [`TikvSubject`]'s `observe` fails ([`Error::PdUnreachable`]): the monitor loop reports
//! `subject_unreachable` (critical) and freezes every other alert, so no `store_down` or
//! `low_disk_space` ticket resolves on data that could not be read. If one endpoint fails but
//! another answers, the observation succeeds and `pd_unhealthy` names the endpoint that failed.
//! If PD answers the store list but not its member and health APIs, or Prometheus does not
//! answer, the observation succeeds with the last data those sources gave, marked stale, and
//! says so (`pd_unhealthy` for PD as a whole, `prometheus_unreachable`): the alerts built on that
//! data stay as they were instead of resolving blind.

pub mod checker;
pub mod config;
pub mod diagnosis;
pub mod observation;
pub mod subject;

mod bytesize;
mod error;
mod http;
mod pd;
mod prometheus;

#[cfg(feature = "simulator")]
pub mod simulator;

pub use checker::TikvChecker;
pub use config::{Thresholds, TikvConfig};
pub use error::{EndpointFailure, Error, Result};
pub use observation::{Freshness, StoreState, TikvObservation};
pub use prometheus::{p99_query, qps_query};
pub use subject::{SUBJECT_NAME, TikvSubject};
