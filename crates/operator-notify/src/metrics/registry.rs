//! [`Metrics`]: counters, gauges and a histogram, updated from what the monitor, the agent and
//! the notifier report, rendered as Prometheus text.

use std::collections::BTreeMap;
use std::sync::Mutex;

use operator_core::TickReport;
use operator_core::agent::SessionReport;

use super::text::{family, sample};
use crate::receiver::ReceiverKind;

/// Upper bounds (seconds) of the observation duration histogram's buckets.
pub const OBSERVATION_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// What became of notifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Delivery {
    /// Accepted by the receiver.
    Sent,
    /// Given up after every attempt, or refused.
    Failed,
    /// Dropped because the receiver's queue was full.
    Dropped,
}

#[derive(Debug, Default, Clone)]
struct Histogram {
    buckets: [u64; OBSERVATION_BUCKETS.len()],
    sum: f64,
    count: u64,
}

#[derive(Debug, Default)]
struct State {
    ticks: BTreeMap<String, u64>,
    failed_observations: BTreeMap<String, u64>,
    observation: BTreeMap<String, Histogram>,
    /// (subject, invariant, severity) → open tickets.
    open: BTreeMap<(String, String, String), u64>,
    /// (receiver kind, delivery) → notifications.
    notifications: BTreeMap<(ReceiverKind, Delivery), u64>,
    /// (subject, action, result) → actions run by the agent.
    actions: BTreeMap<(String, String, &'static str), u64>,
    /// (subject, outcome) → sessions.
    sessions: BTreeMap<(String, String), u64>,
}

/// The operator's metrics. Cheap to update (one short lock), shared behind an `Arc`.
#[derive(Debug, Default)]
pub struct Metrics {
    state: Mutex<State>,
}

impl Metrics {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves counters that are still valid numbers.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Shows zero counters for a receiver kind before anything was sent to it.
    pub fn receiver(&self, kind: ReceiverKind) {
        let mut s = self.state();
        for d in [Delivery::Sent, Delivery::Failed, Delivery::Dropped] {
            s.notifications.entry((kind, d)).or_default();
        }
    }

    /// Counts one tick of the monitor: the tick, its observation's duration and failure, and the
    /// open tickets by invariant and severity after it.
    pub fn tick(&self, report: &TickReport) {
        let mut s = self.state();
        let subject = report.subject.clone();
        *s.ticks.entry(subject.clone()).or_default() += 1;
        let failed = s.failed_observations.entry(subject.clone()).or_default();
        *failed += u64::from(report.observation_error.is_some());
        let secs = report.observation_duration.as_secs_f64();
        let h = s.observation.entry(subject.clone()).or_default();
        for (i, le) in OBSERVATION_BUCKETS.iter().enumerate() {
            if secs <= *le {
                h.buckets[i] += 1;
            }
        }
        h.sum += secs;
        h.count += 1;
        for ((sub, _, _), n) in s.open.iter_mut() {
            if *sub == subject {
                *n = 0;
            }
        }
        for a in report.firing.iter().filter(|a| a.ticket.is_some()) {
            let key = (
                subject.clone(),
                a.violation.invariant.clone(),
                a.violation.severity.as_str().to_owned(),
            );
            *s.open.entry(key).or_default() += 1;
        }
    }

    /// Counts one session of the agent on `subject`: its outcome and the actions it ran.
    pub fn session(&self, subject: &str, report: &SessionReport) {
        let mut s = self.state();
        let key = (subject.to_owned(), report.outcome.as_str().to_owned());
        *s.sessions.entry(key).or_default() += 1;
        for e in &report.executed {
            let action = e.action["action"].as_str().unwrap_or("unknown").to_owned();
            let result = if e.error.is_none() { "ok" } else { "error" };
            *s.actions
                .entry((subject.to_owned(), action, result))
                .or_default() += 1;
        }
    }

    /// Counts `n` notifications to a receiver kind.
    pub fn delivery(&self, kind: ReceiverKind, what: Delivery, n: u64) {
        *self.state().notifications.entry((kind, what)).or_default() += n;
    }

    /// Ticks counted for `subject`.
    pub fn ticks(&self, subject: &str) -> u64 {
        self.state().ticks.get(subject).copied().unwrap_or(0)
    }

    /// Everything, in Prometheus' text format.
    pub fn render(&self) -> String {
        let s = self.state();
        let mut out = String::new();
        family(
            &mut out,
            "operator_ticks_total",
            "counter",
            "Monitor ticks (observations attempted).",
        );
        for (subject, n) in &s.ticks {
            sample(&mut out, "operator_ticks_total", &[("subject", subject)], n);
        }
        family(
            &mut out,
            "operator_observations_failed_total",
            "counter",
            "Observations that failed or timed out (subject_unreachable).",
        );
        for (subject, n) in &s.failed_observations {
            sample(
                &mut out,
                "operator_observations_failed_total",
                &[("subject", subject)],
                n,
            );
        }
        render_histogram(&mut out, &s.observation);
        family(
            &mut out,
            "operator_open_tickets",
            "gauge",
            "Open tickets by invariant and severity, as the monitor tracks them.",
        );
        for ((subject, invariant, severity), n) in &s.open {
            let labels = [
                ("subject", subject.as_str()),
                ("invariant", invariant),
                ("severity", severity),
            ];
            sample(&mut out, "operator_open_tickets", &labels, n);
        }
        render_outcomes(&mut out, &s);
        out
    }
}

/// The notification and agent families.
fn render_outcomes(out: &mut String, s: &State) {
    for (what, name, help) in [
        (
            Delivery::Sent,
            "operator_notifications_sent_total",
            "Notifications accepted by a receiver.",
        ),
        (
            Delivery::Failed,
            "operator_notifications_failed_total",
            "Notifications given up after every attempt, or refused.",
        ),
        (
            Delivery::Dropped,
            "operator_notifications_dropped_total",
            "Notifications dropped because a receiver's queue was full.",
        ),
    ] {
        family(out, name, "counter", help);
        for ((kind, _), n) in s.notifications.iter().filter(|((_, d), _)| *d == what) {
            sample(out, name, &[("receiver", kind.as_str())], n);
        }
    }
    family(
        out,
        "operator_agent_actions_total",
        "counter",
        "Actions run by the agent, by result (ok or error).",
    );
    for ((subject, action, result), n) in &s.actions {
        let labels = [
            ("subject", subject.as_str()),
            ("action", action),
            ("result", result),
        ];
        sample(out, "operator_agent_actions_total", &labels, n);
    }
    family(
        out,
        "operator_agent_sessions_total",
        "counter",
        "Agent sessions by outcome.",
    );
    for ((subject, outcome), n) in &s.sessions {
        let labels = [("subject", subject.as_str()), ("outcome", outcome.as_str())];
        sample(out, "operator_agent_sessions_total", &labels, n);
    }
}

fn render_histogram(out: &mut String, hs: &BTreeMap<String, Histogram>) {
    let name = "operator_observation_duration_seconds";
    family(
        out,
        name,
        "histogram",
        "How long each observation of the subject took.",
    );
    for (subject, h) in hs {
        for (le, n) in OBSERVATION_BUCKETS.iter().zip(h.buckets) {
            let le = le.to_string();
            sample(
                out,
                &format!("{name}_bucket"),
                &[("subject", subject), ("le", &le)],
                n,
            );
        }
        sample(
            out,
            &format!("{name}_bucket"),
            &[("subject", subject), ("le", "+Inf")],
            h.count,
        );
        sample(out, &format!("{name}_sum"), &[("subject", subject)], h.sum);
        sample(
            out,
            &format!("{name}_count"),
            &[("subject", subject)],
            h.count,
        );
    }
}
