//! Reading and writing rows of the ticket tables: the column list, row decoding, timestamps,
//! and the event log, shared by the store and the audit tables.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::model::{EventKind, Ticket, TicketStatus};
use crate::error::{Error, Result};

/// The columns of `tickets`, in the order [`row_to_ticket`] reads them.
pub(super) const TICKET_COLUMNS: &str = "id, subject, invariant, entity, severity, status, held, message, evidence, \
                              occurrences, first_seen, last_seen, resolved_at, resolution";

/// Formats a timestamp the way the store keeps it (RFC 3339, UTC, microseconds), so that text
/// order is time order.
pub(super) fn format_ts(ts: DateTime<Utc>) -> String {
    ts.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

pub(super) fn log(
    conn: &Connection,
    id: i64,
    at: &str,
    kind: &EventKind,
    detail: &str,
) -> Result<()> {
    conn.execute(
        "INSERT INTO ticket_events (ticket_id, at, kind, detail) VALUES (?1, ?2, ?3, ?4)",
        params![id, at, kind.as_ref(), detail],
    )?;
    Ok(())
}

pub(super) fn get(conn: &Connection, id: i64) -> Result<Ticket> {
    conn.query_row(
        &format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE id = ?1"),
        [id],
        row_to_ticket,
    )
    .optional()?
    .ok_or(Error::NoSuchTicket(id))?
}

/// A value stored as text: one of the enums whose names come from their `strum` derive.
pub(super) fn parse_text<T: std::str::FromStr>(text: &str, what: &str) -> Result<T> {
    text.parse()
        .map_err(|_| Error::Corrupt(format!("{what}: unknown value {text:?}")))
}

pub(super) fn parse_ts(s: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| Error::Corrupt(format!("bad timestamp {s:?}: {e}")))
}

/// Reads a ticket row. The outer `Result` is SQLite's, the inner one our decoding of its values.
pub(super) fn row_to_ticket(r: &Row<'_>) -> rusqlite::Result<Result<Ticket>> {
    let id: i64 = r.get(0)?;
    let severity: String = r.get(4)?;
    let status: String = r.get(5)?;
    let evidence: String = r.get(8)?;
    let first_seen: String = r.get(10)?;
    let last_seen: String = r.get(11)?;
    let resolved_at: Option<String> = r.get(12)?;
    let (subject, invariant, entity, held, message, occurrences, resolution) = (
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(6)?,
        r.get(7)?,
        r.get(9)?,
        r.get(13)?,
    );
    Ok((|| {
        Ok(Ticket {
            id,
            subject,
            invariant,
            entity,
            severity: severity
                .parse()
                .map_err(|e| Error::Corrupt(format!("ticket #{id}: {e}")))?,
            status: match status.as_str() {
                "open" => TicketStatus::Open,
                "resolved" => TicketStatus::Resolved,
                other => return Err(Error::Corrupt(format!("ticket #{id}: status {other:?}"))),
            },
            held,
            message,
            evidence: serde_json::from_str(&evidence)?,
            occurrences,
            first_seen: parse_ts(&first_seen)?,
            last_seen: parse_ts(&last_seen)?,
            resolved_at: resolved_at.as_deref().map(parse_ts).transpose()?,
            resolution,
        })
    })())
}
