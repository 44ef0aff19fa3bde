//! The audit trail: diagnoses, agent sessions and every step they took, next to the tickets.
//!
//! A *session* is one agent's handling of one ticket (mode, diagnoser, outcome, steps and tokens
//! spent). Its *entries* record, in order, what it observed, the context it built (size and
//! digest), each model request and answer, the diagnosis, the actions it proposed or ran and
//! their results, the verification, and the escalation or resolution. Diagnoses are also kept
//! on their own, so `tickets show` can print the latest one.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::rows::{format_ts, parse_text, parse_ts};
use super::store::TicketStore;
use super::trail::{AgentSession, AuditEntry, AuditKind, Mode, Outcome, StoredDiagnosis, digest};
use crate::diagnosis::DiagnosisReport;
use crate::error::{Error, Result};

const SESSION_COLUMNS: &str = "id, ticket_id, subject, mode, diagnoser, started_at, finished_at, outcome, detail, steps, tokens";
const ENTRY_COLUMNS: &str = "id, ticket_id, session_id, at, kind, summary, digest, body";

impl TicketStore {
    /// Starts a session of the agent on ticket `ticket`.
    ///
    /// # Errors
    /// SQLite errors, or a ticket that does not exist.
    pub fn start_session(
        &self,
        ticket: i64,
        subject: &str,
        mode: Mode,
        diagnoser: &str,
        at: DateTime<Utc>,
    ) -> Result<i64> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO agent_sessions (ticket_id, subject, mode, diagnoser, started_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![ticket, subject, mode.as_str(), diagnoser, format_ts(at)],
        )?;
        Ok(conn.last_insert_rowid())
    }

    /// Records how session `id` ended.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn finish_session(
        &self,
        id: i64,
        outcome: &Outcome,
        detail: &str,
        steps: u64,
        tokens: u64,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.conn().execute(
            "UPDATE agent_sessions SET finished_at = ?2, outcome = ?3, detail = ?4, steps = ?5, tokens = ?6 WHERE id = ?1",
            params![
                id,
                format_ts(at),
                outcome.as_str(),
                detail,
                i64::try_from(steps).unwrap_or(i64::MAX),
                i64::try_from(tokens).unwrap_or(i64::MAX)
            ],
        )?;
        Ok(())
    }

    /// Session `id`.
    ///
    /// # Errors
    /// [`Error::Corrupt`] naming the session when there is none; SQLite errors.
    pub fn session(&self, id: i64) -> Result<AgentSession> {
        self.conn()
            .query_row(
                &format!("SELECT {SESSION_COLUMNS} FROM agent_sessions WHERE id = ?1"),
                [id],
                row_to_session,
            )
            .optional()?
            .ok_or_else(|| Error::Corrupt(format!("no agent session #{id}")))?
    }

    /// Sessions, newest first: of ticket `ticket` if given, at most `limit`.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn sessions(&self, ticket: Option<i64>, limit: usize) -> Result<Vec<AgentSession>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {SESSION_COLUMNS} FROM agent_sessions WHERE (?1 IS NULL OR ticket_id = ?1) ORDER BY id DESC LIMIT ?2"
        ))?;
        let rows = stmt.query_map(
            params![ticket, i64::try_from(limit).unwrap_or(i64::MAX)],
            row_to_session,
        )?;
        rows.map(|r| r.map_err(Error::from).and_then(|s| s))
            .collect()
    }

    /// Records an audit entry; `text`, when given, is digested (the text itself goes in `body`
    /// if the caller puts it there).
    ///
    /// # Errors
    /// SQLite errors.
    #[allow(clippy::too_many_arguments)] // one column each, named at every call
    pub fn add_audit(
        &self,
        ticket: i64,
        session: Option<i64>,
        kind: &AuditKind,
        summary: &str,
        text: Option<&str>,
        body: &serde_json::Value,
        at: DateTime<Utc>,
    ) -> Result<i64> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO audit_entries (ticket_id, session_id, at, kind, summary, digest, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                ticket,
                session,
                format_ts(at),
                kind.as_ref(),
                summary,
                text.map(digest),
                serde_json::to_string(body)?
            ],
        )?;
        Ok(conn.last_insert_rowid())
    }

    /// Entries of session `id`, in order.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn audit_for_session(&self, id: i64) -> Result<Vec<AuditEntry>> {
        self.entries("session_id = ?1", id)
    }

    /// Entries about ticket `id` (all sessions, and `diagnose` runs), in order.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn audit_for_ticket(&self, id: i64) -> Result<Vec<AuditEntry>> {
        self.entries("ticket_id = ?1", id)
    }

    fn entries(&self, condition: &str, id: i64) -> Result<Vec<AuditEntry>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {ENTRY_COLUMNS} FROM audit_entries WHERE {condition} ORDER BY id"
        ))?;
        let rows = stmt.query_map([id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, Option<i64>>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, Option<String>>(6)?,
                r.get::<_, String>(7)?,
            ))
        })?;
        rows.map(|r| {
            let (id, ticket_id, session_id, at, kind, summary, digest, body) = r?;
            Ok(AuditEntry {
                id,
                ticket_id,
                session_id,
                at: parse_ts(&at)?,
                kind: parse_text(&kind, "audit entry kind")?,
                summary,
                digest,
                body: serde_json::from_str(&body)?,
            })
        })
        .collect()
    }

    /// Keeps a diagnosis of its ticket.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn add_diagnosis(&self, session: Option<i64>, report: &DiagnosisReport) -> Result<i64> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO diagnoses (ticket_id, session_id, at, diagnoser, fallback, confidence, root_cause, report)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                report.ticket,
                session,
                format_ts(report.at),
                report.diagnoser,
                report.fallback,
                report.diagnosis.confidence,
                report.diagnosis.root_cause,
                serde_json::to_string(report)?
            ],
        )?;
        Ok(conn.last_insert_rowid())
    }

    /// Diagnoses of ticket `id`, oldest first.
    ///
    /// # Errors
    /// SQLite errors, or a stored report this build cannot read.
    pub fn diagnoses(&self, id: i64) -> Result<Vec<StoredDiagnosis>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, session_id, report FROM diagnoses WHERE ticket_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Option<i64>>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        rows.map(|r| {
            let (id, session_id, report) = r?;
            Ok(StoredDiagnosis {
                id,
                session_id,
                report: serde_json::from_str(&report)?,
            })
        })
        .collect()
    }

    /// The latest diagnosis of ticket `id`.
    ///
    /// # Errors
    /// As [`TicketStore::diagnoses`].
    pub fn latest_diagnosis(&self, id: i64) -> Result<Option<DiagnosisReport>> {
        Ok(self.diagnoses(id)?.pop().map(|d| d.report))
    }
}

/// Reads a session row. The outer `Result` is SQLite's, the inner one our decoding of its values.
fn row_to_session(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<AgentSession>> {
    let mode: String = r.get(3)?;
    let outcome: Option<String> = r.get(7)?;
    let started_at: String = r.get(5)?;
    let finished_at: Option<String> = r.get(6)?;
    let (id, ticket_id, subject, diagnoser, detail, steps, tokens): (i64, _, _, _, _, _, _) = (
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(4)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
    );
    Ok((|| {
        Ok(AgentSession {
            id,
            ticket_id,
            subject,
            mode: parse_text(&mode, &format!("agent session #{id}: mode"))?,
            diagnoser,
            started_at: parse_ts(&started_at)?,
            finished_at: finished_at.as_deref().map(parse_ts).transpose()?,
            outcome: outcome
                .as_deref()
                .map(|o| parse_text(o, "agent session outcome"))
                .transpose()?,
            detail,
            steps,
            tokens,
        })
    })())
}
