//! A session's bookkeeping: its counters and its audit trail.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::diagnosis::DiagnosisReport;
use crate::error::Result;
use crate::ticket::{AuditKind, TicketStore};

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
    pub(super) fn entry(
        &self,
        kind: AuditKind,
        summary: &str,
        text: Option<&str>,
        body: &Value,
    ) -> Result<()> {
        self.store.add_audit(
            self.ticket,
            Some(self.session),
            &kind,
            summary,
            text,
            body,
            Utc::now(),
        )?;
        Ok(())
    }

    /// Records a diagnosis: each model exchange, then the diagnosis itself.
    pub(super) fn diagnosis(&self, report: &DiagnosisReport) -> Result<()> {
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
            )?;
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
            )?;
        }
        self.store.add_diagnosis(Some(self.session), report)?;
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
    }
}

/// `d` in whole milliseconds.
pub(super) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
