//! The write path of the [`TicketStore`]: opening, bumping, resolving and holding tickets,
//! their log and their snapshots. Each change is one immediate transaction, so another process
//! never sees it half made.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, params};

use super::model::{EventKind, Snapshot, Ticket, TicketStatus};
use super::rows::{format_ts, get, log};
use super::store::TicketStore;
use crate::error::{Error, Result};
use crate::invariant::{Severity, Violation, ViolationKey};

/// What [`TicketStore::upsert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upsert {
    /// No ticket was open for this violation: one was opened.
    Opened(i64),
    /// The open ticket was updated; `escalated_from` is set when its severity was raised.
    Updated {
        /// The ticket.
        id: i64,
        /// Its severity before, when this occurrence raised it.
        escalated_from: Option<Severity>,
    },
}

impl Upsert {
    /// The ticket id.
    pub fn id(self) -> i64 {
        match self {
            Upsert::Opened(id) | Upsert::Updated { id, .. } => id,
        }
    }
}

/// What [`TicketStore::resolve_cleared`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoResolve {
    /// The open ticket was resolved.
    Resolved(i64),
    /// The open ticket is held, so it stays open.
    Held(i64),
    /// No ticket was open for this violation.
    NotOpen,
}

impl TicketStore {
    /// Records one occurrence of `violation` on `subject`: opens a ticket if none is open for it,
    /// otherwise bumps the open one (raising its severity if the violation worsened).
    ///
    /// `first_seen` is used only when a ticket is opened.
    ///
    /// # Errors
    /// SQLite errors (see [`Error::is_transient`]).
    pub fn upsert(
        &self,
        subject: &str,
        violation: &Violation,
        first_seen: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Upsert> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let evidence = serde_json::to_string(&violation.evidence)?;
        let now_s = format_ts(now);
        let open: Option<(i64, String)> = open_ticket(
            &tx,
            "severity",
            subject,
            &violation.invariant,
            violation.entity.as_deref(),
        )?;
        let outcome = match open {
            None => {
                tx.execute(
                    "INSERT INTO tickets (subject, invariant, entity, severity, status, message, evidence,
                                          occurrences, first_seen, last_seen)
                     VALUES (?1, ?2, ?3, ?4, 'open', ?5, ?6, 1, ?7, ?8)",
                    params![
                        subject,
                        violation.invariant,
                        violation.entity,
                        violation.severity.as_str(),
                        violation.message,
                        evidence,
                        format_ts(first_seen.min(now)),
                        now_s
                    ],
                )?;
                let id = tx.last_insert_rowid();
                log(
                    &tx,
                    id,
                    &now_s,
                    &EventKind::Opened,
                    &format!("{}: {}", violation.severity, violation.message),
                )?;
                Upsert::Opened(id)
            }
            Some((id, severity)) => {
                let before: Severity = severity
                    .parse()
                    .map_err(|e| Error::Corrupt(format!("ticket #{id}: {e}")))?;
                let severity = before.max(violation.severity);
                tx.execute(
                    "UPDATE tickets SET severity = ?2, message = ?3, evidence = ?4, last_seen = ?5,
                                        occurrences = occurrences + 1
                     WHERE id = ?1",
                    params![id, severity.as_str(), violation.message, evidence, now_s],
                )?;
                let escalated_from = (severity > before).then_some(before);
                if escalated_from.is_some() {
                    log(
                        &tx,
                        id,
                        &now_s,
                        &EventKind::Escalated,
                        &format!("{before} -> {severity}: {}", violation.message),
                    )?;
                }
                Upsert::Updated { id, escalated_from }
            }
        };
        tx.commit()?;
        Ok(outcome)
    }

    /// Resolves the open ticket for `key` on `subject` because the violation cleared, unless it is
    /// held.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn resolve_cleared(
        &self,
        subject: &str,
        key: &ViolationKey,
        now: DateTime<Utc>,
    ) -> Result<AutoResolve> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let open: Option<(i64, bool)> =
            open_ticket(&tx, "held", subject, &key.invariant, key.entity.as_deref())?;
        let now_s = format_ts(now);
        let outcome = match open {
            None => AutoResolve::NotOpen,
            Some((id, true)) => {
                // Retried on every tick while held: log the first time only.
                let last: Option<String> = tx
                    .query_row("SELECT kind FROM ticket_events WHERE ticket_id = ?1 ORDER BY id DESC LIMIT 1", [id], |r| {
                        r.get(0)
                    })
                    .optional()?;
                let held = EventKind::ClearedWhileHeld;
                if last.as_deref() != Some(held.as_ref()) {
                    log(
                        &tx,
                        id,
                        &now_s,
                        &held,
                        "violation cleared; ticket held, left open",
                    )?;
                }
                AutoResolve::Held(id)
            }
            Some((id, false)) => {
                tx.execute(
                    "UPDATE tickets SET status = 'resolved', resolved_at = ?2, resolution = 'auto' WHERE id = ?1",
                    params![id, now_s],
                )?;
                log(
                    &tx,
                    id,
                    &now_s,
                    &EventKind::Resolved,
                    "violation observed clear",
                )?;
                AutoResolve::Resolved(id)
            }
        };
        tx.commit()?;
        Ok(outcome)
    }

    /// Resolves ticket `id` by hand, with a note. Resolving a resolved ticket changes nothing.
    ///
    /// # Errors
    /// [`Error::NoSuchTicket`], or SQLite errors.
    pub fn resolve(&self, id: i64, note: &str, now: DateTime<Utc>) -> Result<Ticket> {
        self.change(id, now, |tx, t, now_s| {
            if t.status == TicketStatus::Open {
                tx.execute(
                    "UPDATE tickets SET status = 'resolved', resolved_at = ?2, resolution = ?3 WHERE id = ?1",
                    params![id, now_s, note],
                )?;
                log(tx, id, now_s, &EventKind::Resolved, note)?;
            }
            Ok(())
        })
    }

    /// Holds or releases ticket `id`. A held ticket is not resolved when its violation clears.
    ///
    /// # Errors
    /// [`Error::NoSuchTicket`], or SQLite errors.
    pub fn set_held(&self, id: i64, held: bool, now: DateTime<Utc>) -> Result<Ticket> {
        self.change(id, now, |tx, t, now_s| {
            if t.held != held {
                tx.execute(
                    "UPDATE tickets SET held = ?2 WHERE id = ?1",
                    params![id, held],
                )?;
                log(
                    tx,
                    id,
                    now_s,
                    &if held {
                        EventKind::Held
                    } else {
                        EventKind::Unheld
                    },
                    "by hand",
                )?;
            }
            Ok(())
        })
    }

    fn change(
        &self,
        id: i64,
        now: DateTime<Utc>,
        f: impl FnOnce(&Transaction<'_>, &Ticket, &str) -> Result<()>,
    ) -> Result<Ticket> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let ticket = get(&tx, id)?;
        f(&tx, &ticket, &format_ts(now))?;
        let ticket = get(&tx, id)?;
        tx.commit()?;
        Ok(ticket)
    }

    /// Stores a snapshot of the subject with ticket `id`.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn add_snapshot(&self, id: i64, snapshot: &Snapshot) -> Result<()> {
        self.conn().execute(
            "INSERT INTO ticket_snapshots (ticket_id, at, reason, observation, history) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                id,
                format_ts(snapshot.at),
                snapshot.reason.as_ref(),
                serde_json::to_string(&snapshot.observation)?,
                serde_json::to_string(&snapshot.history)?
            ],
        )?;
        Ok(())
    }

    /// Adds an entry to ticket `id`'s log (e.g. `escalated` by the agent, `agent_action`).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn add_event(
        &self,
        id: i64,
        kind: &EventKind,
        detail: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        log(&self.conn(), id, &format_ts(at), kind, detail)
    }
}

/// The id and `column` of the open ticket of (`subject`, `invariant`, `entity`), if any.
fn open_ticket<T: rusqlite::types::FromSql>(
    tx: &Transaction<'_>,
    column: &str,
    subject: &str,
    invariant: &str,
    entity: Option<&str>,
) -> Result<Option<(i64, T)>> {
    Ok(tx
        .query_row(
            &format!(
                "SELECT id, {column} FROM tickets
                 WHERE subject = ?1 AND invariant = ?2 AND ifnull(entity, '') = ifnull(?3, '') AND status = 'open'"
            ),
            params![subject, invariant, entity],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}
