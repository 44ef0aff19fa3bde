//! The read path of the [`TicketStore`]: tickets, their log and their snapshots.

use rusqlite::params;

use super::model::{Snapshot, Ticket, TicketEvent, TicketFilter, TicketStatus};
use super::rows::{TICKET_COLUMNS, get, parse_text, parse_ts, row_to_ticket};
use super::store::TicketStore;
use crate::error::{Error, Result};

impl TicketStore {
    /// Ticket `id`.
    ///
    /// # Errors
    /// [`Error::NoSuchTicket`], or SQLite errors.
    pub fn get(&self, id: i64) -> Result<Ticket> {
        get(&self.conn(), id)
    }

    /// Tickets matching `filter`, newest first.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn list(&self, filter: &TicketFilter) -> Result<Vec<Ticket>> {
        let conn = self.conn();
        let limit = filter
            .limit
            .map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
        let mut stmt = conn.prepare(&format!(
            "SELECT {TICKET_COLUMNS} FROM tickets
             WHERE (?1 IS NULL OR subject = ?1) AND (?2 IS NULL OR status = ?2) AND (?3 IS NULL OR invariant = ?3)
             ORDER BY id DESC LIMIT ?4"
        ))?;
        let rows = stmt.query_map(
            params![
                filter.subject,
                filter.status.map(TicketStatus::as_str),
                filter.invariant,
                limit
            ],
            row_to_ticket,
        )?;
        rows.map(|r| r.map_err(Error::from).and_then(|t| t))
            .collect()
    }

    /// Open tickets of `subject`, oldest first.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn open_tickets(&self, subject: &str) -> Result<Vec<Ticket>> {
        let filter = TicketFilter {
            subject: Some(subject.to_owned()),
            status: Some(TicketStatus::Open),
            ..Default::default()
        };
        let mut tickets = self.list(&filter)?;
        tickets.reverse();
        Ok(tickets)
    }

    /// The log of ticket `id`, oldest first.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn events(&self, id: i64) -> Result<Vec<TicketEvent>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT at, kind, detail FROM ticket_events WHERE ticket_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        rows.map(|r| {
            let (at, kind, detail) = r?;
            Ok(TicketEvent {
                at: parse_ts(&at)?,
                kind: parse_text(&kind, "ticket event kind")?,
                detail,
            })
        })
        .collect()
    }

    /// Snapshots stored with ticket `id`, oldest first.
    ///
    /// # Errors
    /// SQLite errors, or a snapshot that is not valid JSON.
    pub fn snapshots(&self, id: i64) -> Result<Vec<Snapshot>> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT at, reason, observation, history FROM ticket_snapshots WHERE ticket_id = ?1 ORDER BY id")?;
        let rows = stmt.query_map([id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?;
        rows.map(|r| {
            let (at, reason, observation, history) = r?;
            Ok(Snapshot {
                at: parse_ts(&at)?,
                reason: parse_text(&reason, "snapshot reason")?,
                observation: serde_json::from_str(&observation)?,
                history: serde_json::from_str(&history)?,
            })
        })
        .collect()
    }
}
