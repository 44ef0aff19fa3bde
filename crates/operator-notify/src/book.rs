//! [`Book`]: which tickets have an alert out, and what each tick of the monitor or session of the
//! agent changes about them. Pure: the caller passes the time, and gets back the notices to send.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use operator_core::agent::{Outcome, SessionReport};
use operator_core::{Event, Severity, TickReport, Violation};

/// The alert of one open ticket, as last notified.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertState {
    /// The subject's name.
    pub subject: String,
    /// The ticket.
    pub ticket: i64,
    /// The invariant (Alertmanager's `alertname`).
    pub invariant: String,
    /// The entity concerned, if any.
    pub entity: Option<String>,
    /// The current severity.
    pub severity: Severity,
    /// The violation's message, as last seen.
    pub summary: String,
    /// The summary of the latest diagnosis, when the agent made one.
    pub diagnosis: Option<String>,
    /// What the agent concluded, when it handed the ticket to a human.
    pub agent: Option<String>,
    /// When this alert (at this severity) started.
    pub starts_at: DateTime<Utc>,
}

impl AlertState {
    fn new(subject: &str, ticket: i64, v: &Violation, starts_at: DateTime<Utc>) -> Self {
        Self {
            subject: subject.to_owned(),
            ticket,
            invariant: v.invariant.clone(),
            entity: v.entity.clone(),
            severity: v.severity,
            summary: v.message.clone(),
            diagnosis: None,
            agent: None,
            starts_at,
        }
    }
}

/// What happened to an alert.
#[derive(Debug, Clone, PartialEq)]
pub enum NoticeKind {
    /// Its ticket opened.
    Opened,
    /// Its severity was raised: the alert at the old severity ends, a new one starts.
    Escalated {
        /// The severity before.
        from: Severity,
        /// When the alert at the old severity started.
        from_since: DateTime<Utc>,
    },
    /// Still firing: re-sent so the receiver keeps it active (or picked up from an earlier run).
    Firing,
    /// The agent diagnosed it.
    Diagnosed,
    /// The agent gave up on it and handed it to a human.
    AgentEscalated,
    /// Its ticket resolved (by re-observation, by the agent's verified repair, or by hand).
    Resolved {
        /// Whether the agent resolved it after verifying its repair.
        by_agent: bool,
    },
}

/// One thing to tell the receivers.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// What happened.
    pub kind: NoticeKind,
    /// The alert, after the change.
    pub alert: AlertState,
    /// When.
    pub at: DateTime<Utc>,
}

impl Notice {
    /// Whether this is a change of state (every kind but [`NoticeKind::Firing`]): what a chat
    /// webhook is told.
    pub fn is_change(&self) -> bool {
        self.kind != NoticeKind::Firing
    }
}

/// The alerts out for one subject's open tickets.
#[derive(Debug, Clone)]
pub struct Book {
    alerts: BTreeMap<i64, AlertState>,
    /// Tickets the agent resolved that the monitor may still list as firing until it sees the
    /// violation clear: not to be picked up again.
    closed: BTreeSet<i64>,
    resend: TimeDelta,
    last_resend: Option<DateTime<Utc>>,
}

impl Book {
    /// An empty book re-sending firing alerts every `resend` (as Prometheus does).
    pub fn new(resend: Duration) -> Self {
        Self {
            alerts: BTreeMap::new(),
            closed: BTreeSet::new(),
            resend: TimeDelta::from_std(resend).unwrap_or(TimeDelta::MAX),
            last_resend: None,
        }
    }

    /// The alerts out, by ticket.
    pub fn alerts(&self) -> impl Iterator<Item = &AlertState> {
        self.alerts.values()
    }

    /// What one tick of the monitor changes, at the tick's time: its ticket events, the firing
    /// tickets not yet known (left open by an earlier run), the known ones no longer firing
    /// (resolved by the agent or by hand, or held after clearing), and the periodic re-send.
    pub fn on_tick(&mut self, report: &TickReport) -> Vec<Notice> {
        let at = report.observed_at;
        let subject = report.subject.as_str();
        let mut out = Vec::new();
        for event in &report.events {
            if let Some(n) = self.apply(subject, event, at) {
                out.push(n);
            }
        }
        let firing: BTreeMap<i64, &Violation> = report
            .firing
            .iter()
            .filter_map(|a| a.ticket.map(|t| (t, &a.violation)))
            .filter(|(t, _)| !self.closed.contains(t))
            .collect();
        self.closed
            .retain(|t| report.firing.iter().any(|a| a.ticket == Some(*t)));
        for (&ticket, &violation) in &firing {
            match self.alerts.get_mut(&ticket) {
                Some(alert) => alert.summary.clone_from(&violation.message),
                None => {
                    let since = report
                        .firing
                        .iter()
                        .find(|a| a.ticket == Some(ticket))
                        .map_or(at, |a| a.since);
                    let alert = AlertState::new(subject, ticket, violation, since);
                    self.alerts.insert(ticket, alert.clone());
                    out.push(notice(NoticeKind::Firing, alert, at));
                }
            }
        }
        let gone: Vec<i64> = self
            .alerts
            .keys()
            .filter(|t| !firing.contains_key(t))
            .copied()
            .collect();
        for ticket in gone {
            if let Some(alert) = self.alerts.remove(&ticket) {
                out.push(notice(NoticeKind::Resolved { by_agent: false }, alert, at));
            }
        }
        if self.last_resend.is_none_or(|last| at - last >= self.resend) {
            self.last_resend = Some(at);
            for alert in self.alerts.values() {
                if !out.iter().any(|n| n.alert.ticket == alert.ticket) {
                    out.push(notice(NoticeKind::Firing, alert.clone(), at));
                }
            }
        }
        out
    }

    /// What one ticket event of a tick changes.
    fn apply(&mut self, subject: &str, event: &Event, at: DateTime<Utc>) -> Option<Notice> {
        match event {
            Event::Opened {
                ticket,
                violation,
                since,
            } => {
                let alert = AlertState::new(subject, *ticket, violation, *since);
                self.alerts.insert(*ticket, alert.clone());
                Some(notice(NoticeKind::Opened, alert, at))
            }
            Event::Escalated {
                ticket,
                from,
                violation,
            } => {
                let mut alert = AlertState::new(subject, *ticket, violation, at);
                let from_since = match self.alerts.get(ticket) {
                    Some(old) => {
                        alert.diagnosis.clone_from(&old.diagnosis);
                        old.starts_at
                    }
                    None => at,
                };
                self.alerts.insert(*ticket, alert.clone());
                let kind = NoticeKind::Escalated {
                    from: *from,
                    from_since,
                };
                Some(notice(kind, alert, at))
            }
            Event::Resolved { ticket, .. } => self
                .alerts
                .remove(ticket)
                .map(|alert| notice(NoticeKind::Resolved { by_agent: false }, alert, at)),
            Event::ClearedWhileHeld { .. } => None,
        }
    }

    /// What one session of the agent changes, at `at`: its diagnosis (an annotation), a
    /// resolution after a verified repair (the alert ends), an escalation to a human. Sessions on
    /// tickets without an alert out change nothing.
    pub fn on_session(&mut self, report: &SessionReport, at: DateTime<Utc>) -> Vec<Notice> {
        let Some(alert) = self.alerts.get_mut(&report.ticket) else {
            return Vec::new();
        };
        let diagnosis = report
            .diagnosis
            .as_ref()
            .map(|d| d.diagnosis.summary.clone());
        let diagnosed = diagnosis.is_some() && diagnosis != alert.diagnosis;
        if diagnosis.is_some() {
            alert.diagnosis = diagnosis;
        }
        let kind = match report.outcome {
            Outcome::Resolved => {
                self.closed.insert(report.ticket);
                let alert = self.alerts.remove(&report.ticket);
                return alert
                    .map(|a| notice(NoticeKind::Resolved { by_agent: true }, a, at))
                    .into_iter()
                    .collect();
            }
            Outcome::Escalated => {
                alert.agent = Some(format!("escalated to a human: {}", report.detail));
                NoticeKind::AgentEscalated
            }
            _ if diagnosed => NoticeKind::Diagnosed,
            _ => return Vec::new(),
        };
        vec![notice(kind, alert.clone(), at)]
    }
}

fn notice(kind: NoticeKind, alert: AlertState, at: DateTime<Utc>) -> Notice {
    Notice { kind, alert, at }
}

#[cfg(test)]
#[path = "book_tests.rs"]
mod tests;
