//! What one tick of the monitor loop reports.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::invariant::{Severity, Violation, ViolationKey};
use crate::ticket::PruneReport;

/// The outcome of one observation and evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct TickReport {
    /// Subject name.
    pub subject: String,
    /// When the observation started.
    pub observed_at: DateTime<Utc>,
    /// Why the observation failed, if it did.
    pub observation_error: Option<String>,
    /// How long the observation took (up to the timeout when it timed out), for the operator's
    /// own metrics.
    #[serde(skip)]
    pub observation_duration: Duration,
    /// Violations firing now (including those within their keep-firing period).
    pub firing: Vec<Active>,
    /// Violations seen but still within their pending period.
    pub pending: Vec<Active>,
    /// Ticket state changes made by this tick.
    pub events: Vec<Event>,
    /// What this tick's retention pass deleted, when it ran one (see
    /// [`MonitorConfig::retention`](super::MonitorConfig::retention)).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pruned: Option<PruneReport>,
}

impl TickReport {
    /// Whether nothing is firing.
    pub fn healthy(&self) -> bool {
        self.firing.is_empty()
    }

    /// Violations seen by this very observation (firing or pending), leaving out alerts that
    /// merely keep firing or are frozen because their source could not be read.
    pub fn observed(&self) -> impl Iterator<Item = &Active> {
        self.firing
            .iter()
            .chain(&self.pending)
            .filter(|a| a.observed)
    }
}

/// A violation being tracked, with when it was first seen.
#[derive(Debug, Clone, Serialize)]
pub struct Active {
    /// The violation as last seen.
    #[serde(flatten)]
    pub violation: Violation,
    /// When it was first seen.
    pub since: DateTime<Utc>,
    /// Its open ticket, when firing.
    pub ticket: Option<i64>,
    /// Whether it is currently observed (false while a firing violation keeps firing after clearing).
    pub observed: bool,
}

/// A change of ticket state.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A violation fired and a ticket was opened.
    Opened {
        /// The ticket.
        ticket: i64,
        /// The violation.
        violation: Violation,
        /// When it was first seen.
        since: DateTime<Utc>,
    },
    /// An open ticket's severity was raised.
    Escalated {
        /// The ticket.
        ticket: i64,
        /// Severity before.
        from: Severity,
        /// The violation, with its new severity.
        violation: Violation,
    },
    /// A violation stayed clear for its keep-firing period and its ticket was resolved.
    Resolved {
        /// The ticket.
        ticket: i64,
        /// Which violation cleared.
        #[serde(flatten)]
        key: ViolationKey,
    },
    /// A violation cleared but its ticket is held, so it stays open.
    ClearedWhileHeld {
        /// The ticket.
        ticket: i64,
        /// Which violation cleared.
        #[serde(flatten)]
        key: ViolationKey,
    },
}

impl Event {
    /// The ticket concerned.
    pub fn ticket(&self) -> i64 {
        match self {
            Event::Opened { ticket, .. }
            | Event::Escalated { ticket, .. }
            | Event::Resolved { ticket, .. }
            | Event::ClearedWhileHeld { ticket, .. } => *ticket,
        }
    }
}
