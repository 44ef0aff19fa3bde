//! A session's bookkeeping: its audit trail, and how it ends (finished or escalated).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::{Decision, Outcome, Planned, SessionReport};
use crate::diagnosis::DiagnosisReport;
use crate::error::Result;
use crate::ticket::{AuditKind, EventKind, TicketStore};

/// The session's bookkeeping and its audit trail.
pub(super) struct Record {
    pub(super) store: Arc<TicketStore>,
    pub(super) ticket: i64,
    pub(super) session: i64,
    pub(super) steps: u64,
    pub(super) tokens: u64,
    pub(super) started: Instant,
}

impl Record {
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

/// Why nothing can be run, for the escalation.
pub(super) fn no_action_reason<A>(
    root_cause: &str,
    plan: &[(Planned, Option<A>)],
    allow: &BTreeSet<String>,
) -> String {
    if plan.is_empty() {
        return format!("no declared action addresses the diagnosed cause: {root_cause}");
    }
    let list = |d: fn(&Decision) -> bool| -> Vec<String> {
        plan.iter()
            .filter(|(p, _)| d(&p.decision))
            .map(|(p, _)| p.action["action"].as_str().unwrap_or("?").to_owned())
            .collect()
    };
    let mut parts = Vec::new();
    let not_allowed = list(|d| matches!(d, Decision::NotAllowed));
    if !not_allowed.is_empty() {
        parts.push(format!(
            "recommended {} not allowed (allowed: {})",
            not_allowed.join(", "),
            if allow.is_empty() {
                "none".to_owned()
            } else {
                allow.iter().cloned().collect::<Vec<_>>().join(", ")
            }
        ));
    }
    let tried = list(|d| matches!(d, Decision::AlreadyTried));
    if !tried.is_empty() {
        parts.push(format!(
            "{} already ran and the violation persists",
            tried.join(", ")
        ));
    }
    let invalid = list(|d| matches!(d, Decision::Invalid(_)));
    if !invalid.is_empty() {
        parts.push(format!("{} invalid", invalid.join(", ")));
    }
    if plan
        .iter()
        .any(|(p, _)| p.decision == Decision::OverStepCap)
    {
        parts.push("step cap reached".to_owned());
    }
    format!("{} (diagnosed cause: {root_cause})", parts.join("; "))
}

pub(super) fn finish(
    rec: &Record,
    mut report: SessionReport,
    outcome: Outcome,
    detail: String,
) -> Result<SessionReport> {
    report.outcome = outcome;
    report.detail = detail;
    report.steps = rec.steps;
    report.tokens = rec.tokens;
    report.elapsed_ms = millis(rec.started.elapsed());
    rec.store.finish_session(
        rec.session,
        &report.outcome,
        &report.detail,
        rec.steps,
        rec.tokens,
        Utc::now(),
    )?;
    tracing::info!(ticket = rec.ticket, session = rec.session, outcome = report.outcome.as_str(), detail = %report.detail, "agent session finished");
    Ok(report)
}

/// Hands the ticket to a human, once: a ticket event and the session's outcome.
pub(super) fn escalate(
    rec: &Record,
    report: SessionReport,
    reason: String,
) -> Result<SessionReport> {
    rec.store.add_event(
        rec.ticket,
        &EventKind::Escalated,
        &format!("by agent session #{}: {reason}", rec.session),
        Utc::now(),
    )?;
    rec.entry(
        AuditKind::Escalation,
        &reason,
        None,
        &json!({ "reason": reason }),
    )?;
    finish(rec, report, Outcome::Escalated, reason)
}

pub(super) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
