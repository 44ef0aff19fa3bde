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
//! The store is safe to share between processes (WAL journal, busy timeout, immediate write
//! transactions): the monitor writes while `operator tickets` reads.

mod audit;
mod model;
mod rows;
mod schema;
mod store;

pub use audit::{AgentSession, AuditEntry, StoredDiagnosis, digest};
pub use model::{Snapshot, Ticket, TicketEvent, TicketFilter, TicketStatus};
pub use schema::SCHEMA_VERSION;
pub use store::{AutoResolve, TicketStore, Upsert};

/// Formats a timestamp the way the store keeps it (RFC 3339, UTC, microseconds), so that text
/// order is time order.
pub(crate) fn format_ts(ts: chrono::DateTime<chrono::Utc>) -> String {
    ts.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}
