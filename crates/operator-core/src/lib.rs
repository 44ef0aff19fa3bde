//! Generic machinery of the operator.
//!
//! The operator watches a *subject* (any distributed system), checks *invariants* over what it
//! observes, and turns violations into *tickets*. Nothing in this crate knows what a subject is
//! made of: each subject crate implements [`Subject`] and [`InvariantChecker`], and the
//! [`MonitorLoop`] does the rest.
//!
//! # Layout
//! - [`subject`]: the [`Subject`] trait (observe, describe, declare and execute typed actions).
//! - [`action`]: the vocabulary of typed remediation actions ([`Action`], [`ActionSpec`]).
//! - [`invariant`]: [`InvariantChecker`], [`InvariantSpec`], [`Violation`] and [`Severity`].
//! - [`history`]: the bounded window of recent observations handed to checkers.
//! - [`alert`]: the per-violation state machine (pending, firing, keep-firing), pure and clocked
//!   by the caller.
//! - [`monitor`]: [`MonitorLoop`], which ties observation, checks, alerts and tickets together.
//! - [`ticket`]: the SQLite [`TicketStore`].
//! - [`signal`]: a shutdown future for SIGINT and SIGTERM.
//! - [`assess`]: whether one violation holds in one observation.
//! - [`context`]: the context document of an incident ([`Context`]), gathered for diagnosis,
//!   redacted and trimmed to a size budget.
//! - [`diagnosis`]: the [`Diagnoser`] trait, the structured [`Diagnosis`] and its validation,
//!   and the [`OfflineDiagnoser`] working from the subject's rules.
//! - [`agent`]: the bounded [`Agent`] that diagnoses open tickets, runs allowed actions and
//!   resolves a ticket only when an observation shows the violation clear.

pub mod action;
pub mod agent;
pub mod alert;
pub mod assess;
pub mod context;
pub mod diagnosis;
mod error;
pub mod history;
pub mod invariant;
pub mod monitor;
pub mod observe;
pub mod signal;
pub mod subject;
mod text;
pub mod ticket;

pub use action::{Action, ActionReport, ActionSpec, NoAction, ParamSpec};
pub use agent::{Agent, AgentConfig, Mode};
pub use context::{Context, ContextConfig, ContextSection};
pub use diagnosis::{
    Diagnosable, Diagnoser, Diagnosis, DiagnosisReport, Fallback, Finding, OfflineDiagnoser,
    Recommendation, Rule,
};
pub use error::{Error, Result};
pub use history::History;
pub use invariant::{InvariantChecker, InvariantSpec, Severity, Unknown, Violation};
pub use monitor::{Event, MonitorConfig, MonitorLoop, TickReport};
pub use observe::{ObserveFailure, SUBJECT_UNREACHABLE, observe_bounded};
pub use subject::Subject;
pub use ticket::{Ticket, TicketStatus, TicketStore};
