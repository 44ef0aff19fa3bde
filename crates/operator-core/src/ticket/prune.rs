//! Retention of the [`TicketStore`]: deleting resolved tickets past their retention, with
//! everything recorded about them (log, snapshots, diagnoses, agent sessions, audit trail).
//!
//! Open tickets are never deleted, however old: they are what the monitor and the agent still
//! work on. The deleted pages go on SQLite's free list and are reused by later writes, so a
//! store pruned regularly stays bounded without a `VACUUM`.

use chrono::{DateTime, Utc};
use rusqlite::{Transaction, TransactionBehavior, params};
use serde::Serialize;

use super::rows::format_ts;
use super::store::TicketStore;
use crate::error::Result;

/// The tables holding a ticket's records, children first (the order rows are deleted in, so
/// foreign keys hold at each step).
const CHILD_TABLES: &[(&str, Field)] = &[
    ("audit_entries", Field::AuditEntries),
    ("diagnoses", Field::Diagnoses),
    ("agent_sessions", Field::Sessions),
    ("ticket_snapshots", Field::Snapshots),
    ("ticket_events", Field::Events),
];

/// Which counter of a [`PruneReport`] a table's rows go to.
#[derive(Clone, Copy)]
enum Field {
    AuditEntries,
    Diagnoses,
    Sessions,
    Snapshots,
    Events,
}

/// What [`TicketStore::prune`] deleted (or, in a dry run, would delete).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PruneReport {
    /// Resolved tickets.
    pub tickets: u64,
    /// Their log entries.
    pub events: u64,
    /// Their snapshots.
    pub snapshots: u64,
    /// Their diagnoses.
    pub diagnoses: u64,
    /// Their agent sessions.
    pub sessions: u64,
    /// Their audit entries.
    pub audit_entries: u64,
    /// Whether nothing was deleted, only counted.
    pub dry_run: bool,
}

impl PruneReport {
    fn add(&mut self, field: Field, n: u64) {
        let counter = match field {
            Field::AuditEntries => &mut self.audit_entries,
            Field::Diagnoses => &mut self.diagnoses,
            Field::Sessions => &mut self.sessions,
            Field::Snapshots => &mut self.snapshots,
            Field::Events => &mut self.events,
        };
        *counter += n;
    }

    /// Rows of every kind together.
    pub fn rows(&self) -> u64 {
        self.tickets
            + self.events
            + self.snapshots
            + self.diagnoses
            + self.sessions
            + self.audit_entries
    }
}

/// Resolved tickets of `cutoff`'s selection (`?1`), as a subquery.
const DOOMED: &str = "SELECT id FROM tickets WHERE status = 'resolved' AND resolved_at < ?1";

impl TicketStore {
    /// Deletes the tickets resolved before `cutoff`, with all their records, in one immediate
    /// transaction; with `dry_run`, only counts them.
    ///
    /// # Errors
    /// SQLite errors (see [`Error::is_transient`](crate::Error::is_transient)); nothing is
    /// deleted then.
    pub fn prune(&self, cutoff: DateTime<Utc>, dry_run: bool) -> Result<PruneReport> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let cutoff = format_ts(cutoff);
        let mut report = PruneReport {
            dry_run,
            ..PruneReport::default()
        };
        for &(table, field) in CHILD_TABLES {
            report.add(field, rows(&tx, table, &cutoff, dry_run)?);
        }
        report.tickets = if dry_run {
            count(&tx, &format!("SELECT count(*) FROM ({DOOMED})"), &cutoff)?
        } else {
            changed(tx.execute(
                &format!("DELETE FROM tickets WHERE id IN ({DOOMED})"),
                params![cutoff],
            )?)
        };
        tx.commit()?;
        Ok(report)
    }

    /// Pages in the database file and pages on its free list: what a long run keeps bounded.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn page_counts(&self) -> Result<(u64, u64)> {
        let conn = self.conn();
        let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
        let free: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
        Ok((pages.unsigned_abs(), free.unsigned_abs()))
    }
}

/// Deletes (or counts) the rows of `table` that belong to a doomed ticket.
fn rows(tx: &Transaction<'_>, table: &str, cutoff: &str, dry_run: bool) -> Result<u64> {
    let selection = format!("FROM {table} WHERE ticket_id IN ({DOOMED})");
    if dry_run {
        count(tx, &format!("SELECT count(*) {selection}"), cutoff)
    } else {
        Ok(changed(tx.execute(
            &format!("DELETE {selection}"),
            params![cutoff],
        )?))
    }
}

fn count(tx: &Transaction<'_>, sql: &str, cutoff: &str) -> Result<u64> {
    let n: i64 = tx.query_row(sql, params![cutoff], |r| r.get(0))?;
    Ok(n.unsigned_abs())
}

fn changed(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}
