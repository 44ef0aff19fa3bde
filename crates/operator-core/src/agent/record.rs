//! A session's bookkeeping: its counters and its audit trail. Every write goes through
//! [`TicketStore::call`], off the async runtime.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::diagnosis::DiagnosisReport;
use crate::error::Result;
use crate::ticket::{AuditKind, EventKind, Outcome, Ticket, TicketStore};

/// The session's bookkeeping and its audit trail.
pub(super) struct Record {
    /// Where it is recorded.
    pub(super) store: Arc<TicketStore>,
    /// The ticket.
    pub(super) ticket: i64,
    /// The session's id.
    pub(super) session: i64,
    /// Actions run so far.
    pub(super) steps: u64,
    /// Model tokens spent so far.
    pub(super) tokens: u64,
    /// When the session started.
    pub(super) started: Instant,
}

impl Record {
    /// The bookkeeping of session `session` on `ticket`, starting now.
    pub(super) fn new(store: Arc<TicketStore>, ticket: i64, session: i64) -> Self {
        Self {
            store,
            ticket,
            session,
            steps: 0,
            tokens: 0,
            started: Instant::now(),
        }
    }

    /// Records one step of the session in the audit trail.
    pub(super) async fn entry(
        &self,
        kind: AuditKind,
        summary: &str,
        text: Option<&str>,
        body: &Value,
    ) -> Result<()> {
        let (ticket, session) = (self.ticket, Some(self.session));
        let (summary, text, body) = (summary.to_owned(), text.map(str::to_owned), body.clone());
        self.store
            .call(move |s| {
                s.add_audit(
                    ticket,
                    session,
                    &kind,
                    &summary,
                    text.as_deref(),
                    &body,
                    Utc::now(),
                )
            })
            .await?;
        Ok(())
    }

    /// Adds an entry to the ticket's log.
    pub(super) async fn event(&self, kind: EventKind, detail: String) -> Result<()> {
        let ticket = self.ticket;
        self.store
            .call(move |s| s.add_event(ticket, &kind, &detail, Utc::now()))
            .await
    }

    /// The ticket as it is now.
    pub(super) async fn ticket(&self) -> Result<Ticket> {
        let ticket = self.ticket;
        self.store.call(move |s| s.get(ticket)).await
    }

    /// Resolves the ticket by hand with `note`; returns it as it is after.
    pub(super) async fn resolve(&self, note: String) -> Result<Ticket> {
        let ticket = self.ticket;
        self.store
            .call(move |s| s.resolve(ticket, &note, Utc::now()))
            .await
    }

    /// Stores how the session ended, with its counters.
    pub(super) async fn finish(&self, outcome: Outcome, detail: String) -> Result<()> {
        let (session, steps, tokens) = (self.session, self.steps, self.tokens);
        self.store
            .call(move |s| s.finish_session(session, &outcome, &detail, steps, tokens, Utc::now()))
            .await
    }

    /// Records a diagnosis: each model exchange, then the diagnosis itself.
    pub(super) async fn diagnosis(&self, report: &DiagnosisReport) -> Result<()> {
        for x in &report.exchanges {
            self.entry(
                AuditKind::Prompt,
                &format!(
                    "{}/{} attempt {}: {} bytes",
                    x.provider,
                    x.model,
                    x.attempt,
                    x.request.len()
                ),
                Some(&x.request),
                &json!({ "provider": x.provider, "model": x.model, "attempt": x.attempt, "at": x.at, "text": x.request }),
            )
            .await?;
            self.entry(
                AuditKind::Response,
                &format!(
                    "{} in {} ms: {} bytes",
                    x.status
                        .map_or_else(|| "no answer".to_owned(), |s| format!("HTTP {s}")),
                    x.duration_ms,
                    x.response.len()
                ),
                Some(&x.response),
                &json!({ "status": x.status, "duration_ms": x.duration_ms, "text": x.response }),
            )
            .await?;
        }
        let (session, stored) = (Some(self.session), report.clone());
        self.store
            .call(move |s| s.add_diagnosis(session, &stored))
            .await?;
        let d = &report.diagnosis;
        let fallback = report
            .fallback
            .as_deref()
            .map(|f| format!(" [offline fallback: {f}]"))
            .unwrap_or_default();
        self.entry(
            AuditKind::Diagnosis,
            &format!("{} ({:.0}%){fallback}", d.root_cause, d.confidence * 100.0),
            None,
            &serde_json::to_value(report)?,
        )
        .await
    }
}

/// `d` in whole milliseconds.
pub(super) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
