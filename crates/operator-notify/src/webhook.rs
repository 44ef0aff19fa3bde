//! The JSON body posted to a webhook for each change of an alert (opened, escalated, diagnosed,
//! escalated by the agent, resolved; not the periodic re-sends), with a Slack-compatible `text`.
//! The body is documented in `docs/NOTIFICATIONS.md`.

use chrono::{DateTime, Utc};
use operator_core::Severity;
use serde::{Deserialize, Serialize};

use crate::book::{Notice, NoticeKind};

/// What a webhook receives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookBody {
    /// The format's version: `1`.
    pub version: u32,
    /// `opened`, `escalated`, `diagnosed`, `agent_escalated` or `resolved`.
    pub event: String,
    /// One line for a chat channel (Slack's incoming webhooks show it).
    pub text: String,
    /// The subject's name.
    pub subject: String,
    /// The ticket.
    pub ticket: i64,
    /// The invariant.
    pub invariant: String,
    /// The entity, or null for the whole subject.
    pub entity: Option<String>,
    /// The severity now.
    pub severity: Severity,
    /// The severity before, for `escalated`.
    pub previous_severity: Option<Severity>,
    /// The violation's message.
    pub summary: String,
    /// The agent's diagnosis, when it made one.
    pub diagnosis: Option<String>,
    /// For `resolved`: whether the agent resolved it after verifying its repair.
    pub resolved_by_agent: Option<bool>,
    /// When the alert started.
    pub since: DateTime<Utc>,
    /// When this happened.
    pub at: DateTime<Utc>,
}

/// The body telling a webhook about `notice`; none for a re-send ([`NoticeKind::Firing`]).
pub fn body_of(notice: &Notice) -> Option<WebhookBody> {
    let a = &notice.alert;
    let (event, verb, previous, by_agent) = match &notice.kind {
        NoticeKind::Firing => return None,
        NoticeKind::Opened => ("opened", "OPENED".to_owned(), None, None),
        NoticeKind::Escalated { from, .. } => (
            "escalated",
            format!("ESCALATED from {from}"),
            Some(*from),
            None,
        ),
        NoticeKind::Diagnosed => ("diagnosed", "DIAGNOSED".to_owned(), None, None),
        NoticeKind::AgentEscalated => ("agent_escalated", "NEEDS A HUMAN".to_owned(), None, None),
        NoticeKind::Resolved { by_agent } => (
            "resolved",
            if *by_agent {
                "RESOLVED by the agent".to_owned()
            } else {
                "RESOLVED".to_owned()
            },
            None,
            Some(*by_agent),
        ),
    };
    let what = match &a.entity {
        Some(e) => format!("{}[{e}]", a.invariant),
        None => a.invariant.clone(),
    };
    let mut text = format!(
        "[{}] {} {what} {verb} (ticket #{}): {}",
        a.severity.as_str().to_uppercase(),
        a.subject,
        a.ticket,
        a.summary
    );
    if let Some(d) = &a.diagnosis {
        text.push_str(&format!("\nDiagnosis: {d}"));
    }
    if let (NoticeKind::AgentEscalated, Some(x)) = (&notice.kind, &a.agent) {
        text.push_str(&format!("\nAgent: {x}"));
    }
    Some(WebhookBody {
        version: 1,
        event: event.to_owned(),
        text,
        subject: a.subject.clone(),
        ticket: a.ticket,
        invariant: a.invariant.clone(),
        entity: a.entity.clone(),
        severity: a.severity,
        previous_severity: previous,
        summary: a.summary.clone(),
        diagnosis: a.diagnosis.clone(),
        resolved_by_agent: by_agent,
        since: a.starts_at,
        at: notice.at,
    })
}
