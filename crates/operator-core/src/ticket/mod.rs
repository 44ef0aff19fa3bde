//! Tickets: the durable record of violations, in SQLite.
//!
//! One ticket stays open per (subject, invariant, entity); each observation of the same violation
//! bumps its occurrence count and `last_seen`, and raises its severity if the violation worsened.
//! Tickets resolve automatically when the monitor sees the violation clear (unless held), or by
//! hand. Every state change is logged in the ticket's event log.
//!
//! Next to the tickets, the store keeps their diagnoses and the audit trail of the agent
//! ([`AgentSession`], [`AuditEntry`]).
//!
//! The [`TicketStore`] and its connection are in `store.rs`, its write path (tickets, their log
//! and snapshots) in `write.rs`, its read path in `read.rs`, the audit trail's tables in
//! `audit.rs` and its records in `trail.rs`, retention (deleting old resolved tickets with their
//! records) in `prune.rs`; kinds are stored as text (see [`EventKind`]).
//!
//! The store is safe to share between processes (WAL journal, busy timeout, immediate write
//! transactions): the monitor writes while `operator tickets` reads.

mod audit;
mod model;
mod prune;
mod read;
mod rows;
mod schema;
mod store;
mod trail;
mod write;

pub use self::model::{
    EventKind, Snapshot, SnapshotReason, Ticket, TicketEvent, TicketFilter, TicketStatus,
};
pub use self::prune::PruneReport;
pub use self::schema::SCHEMA_VERSION;
pub use self::store::TicketStore;
pub use self::trail::{
    AgentSession, AuditEntry, AuditKind, Mode, Outcome, StoredDiagnosis, digest,
};
pub use self::write::{AutoResolve, Upsert};
