//! Generic machinery of the operator.
//!
//! The operator watches a *subject* (any distributed system), checks *invariants* over what it
//! observes, and turns violations into *tickets*. Nothing in this crate knows what a subject is
//! made of: each subject crate implements [`Subject`] and [`InvariantChecker`] (and
//! [`Diagnosable`] to take part in diagnosis), and the [`MonitorLoop`] does the rest.
//!
//! # Layout
//! Roughly from the bottom up. Imports between files point one way: no file imports, directly
//! or through others, a file that imports it (`mod.rs` files only declare and re-export).
//! - [`action`]: the vocabulary of typed remediation actions ([`Action`], [`ActionSpec`]).
//! - [`subject`]: the [`Subject`] trait (observe, describe, execute typed actions). It depends
//!   on nothing but actions.
//! - [`history`]: the bounded window of recent observations handed to checkers.
//! - [`invariant`]: [`InvariantChecker`], [`InvariantSpec`], [`Violation`] and [`Severity`].
//! - [`observe`]: one bounded observation ([`observe_bounded`]) and how it fails
//!   ([`ObserveFailure`], the [`SUBJECT_UNREACHABLE`] violation).
//! - [`alert`]: the per-violation state machine (pending, firing, keep-firing), pure and clocked
//!   by the caller.
//! - [`ticket`]: the SQLite [`TicketStore`]: its write path, its read path, the agent's audit
//!   trail and retention ([`TicketStore::prune`]); async code reaches it through
//!   [`TicketStore::call`], on the blocking pool, with the kinds it stores as text ([`ticket::EventKind`],
//!   [`ticket::SnapshotReason`], [`Mode`], [`agent::Outcome`], [`ticket::AuditKind`]).
//! - [`assess`]: whether one violation holds in one observation, and observing to find out
//!   ([`assess::observe_now`]).
//! - [`monitor`]: [`MonitorLoop`], which ties observation, checks, alerts and tickets together
//!   (its ticket bookkeeping in its own module); one clock reading per tick.
//! - [`context`]: the context document of an incident ([`Context`]), gathered for diagnosis,
//!   redacted and trimmed to a size budget.
//! - [`diagnosis`]: the [`Diagnosable`] extension of [`Subject`] (extra context, rules), the
//!   [`Diagnoser`] trait, the structured [`Diagnosis`] and its validation, and the
//!   [`OfflineDiagnoser`] working from the subject's rules.
//! - [`agent`]: the bounded [`Agent`] that diagnoses open tickets, runs allowed actions and
//!   resolves a ticket only when an observation shows the violation clear; a session is an
//!   explicit state machine, one function per phase.
//! - [`signal`]: a shutdown future for SIGINT and SIGTERM.
//!
//! Tracing: a `tick` span per monitor tick, an `observe` span per observation and an
//! `agent_session` span per session carry the shared fields (`subject`, `ticket`, `invariant`);
//! the events inside them add only their own. This crate never installs a subscriber.

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
