//! The alerts of Alertmanager's API v2 (`POST /api/v2/alerts`), made from [`Notice`]s.
//!
//! One alert per open ticket: `alertname` is the invariant, with the labels `subject`,
//! `entity` (left out for a violation of the whole subject) and `severity`; the annotations
//! `summary` (the violation's message), `ticket` (its number), `diagnosis` (the agent's, when it
//! made one) and `agent` (when the agent handed it to a human). A firing alert is valid until
//! `endsAt` = now + 4 × the re-send interval, as Prometheus sets it, so it ends by itself if the
//! operator stops re-sending; a resolved one is sent with `endsAt` = the time it resolved. An
//! escalation changes the `severity` label, so it ends the alert at the old severity and starts
//! one at the new.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use operator_core::Severity;
use serde::{Deserialize, Serialize};

use crate::book::{AlertState, Notice, NoticeKind};

/// One alert as Alertmanager's API v2 takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AmAlert {
    /// Identifying labels.
    pub labels: BTreeMap<String, String>,
    /// Informational annotations.
    pub annotations: BTreeMap<String, String>,
    /// When it started.
    #[serde(rename = "startsAt")]
    pub starts_at: DateTime<Utc>,
    /// When it ends (in the future while firing).
    #[serde(rename = "endsAt")]
    pub ends_at: DateTime<Utc>,
}

/// The alerts that tell Alertmanager about `notice`, a firing one valid for `4 × resend`.
pub fn alerts_of(notice: &Notice, resend: Duration) -> Vec<AmAlert> {
    let valid = TimeDelta::from_std(resend * 4).unwrap_or(TimeDelta::MAX);
    let alert = &notice.alert;
    let at = notice.at;
    let firing = |a: &AlertState| AmAlert {
        labels: labels(a, a.severity),
        annotations: annotations(a),
        starts_at: a.starts_at.min(at),
        ends_at: at
            .checked_add_signed(valid)
            .unwrap_or(DateTime::<Utc>::MAX_UTC),
    };
    match &notice.kind {
        NoticeKind::Opened
        | NoticeKind::Firing
        | NoticeKind::Diagnosed
        | NoticeKind::AgentEscalated => vec![firing(alert)],
        NoticeKind::Escalated { from, from_since } => vec![
            AmAlert {
                labels: labels(alert, *from),
                annotations: annotations(alert),
                starts_at: (*from_since).min(at),
                ends_at: at,
            },
            firing(alert),
        ],
        NoticeKind::Resolved { .. } => vec![AmAlert {
            labels: labels(alert, alert.severity),
            annotations: annotations(alert),
            starts_at: alert.starts_at.min(at),
            ends_at: at,
        }],
    }
}

fn labels(a: &AlertState, severity: Severity) -> BTreeMap<String, String> {
    let mut l = BTreeMap::from([
        ("alertname".to_owned(), a.invariant.clone()),
        ("subject".to_owned(), a.subject.clone()),
        ("severity".to_owned(), severity.as_str().to_owned()),
    ]);
    if let Some(e) = &a.entity {
        l.insert("entity".to_owned(), e.clone());
    }
    l
}

fn annotations(a: &AlertState) -> BTreeMap<String, String> {
    let mut n = BTreeMap::from([
        ("summary".to_owned(), a.summary.clone()),
        ("ticket".to_owned(), a.ticket.to_string()),
    ]);
    if let Some(d) = &a.diagnosis {
        n.insert("diagnosis".to_owned(), d.clone());
    }
    if let Some(x) = &a.agent {
        n.insert("agent".to_owned(), x.clone());
    }
    n
}
