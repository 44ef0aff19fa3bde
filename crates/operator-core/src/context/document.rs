//! The context document: every part of it, and how to read its observations back.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::action::ActionSpec;
use crate::assess::Now;
use crate::invariant::{InvariantSpec, Severity};
use crate::ticket::{Ticket, TicketEvent, TicketStatus};

/// Everything known about one ticket, for a human or a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Context {
    /// When the document was assembled.
    pub generated_at: DateTime<Utc>,
    /// The ticket: the violation, its latest message and evidence.
    pub ticket: Ticket,
    /// The subject.
    pub subject: SubjectSection,
    /// Documentation and timing of the ticket's invariant.
    pub invariant: Option<InvariantSpec>,
    /// The subject's other invariants.
    pub other_invariants: Vec<InvariantSpec>,
    /// The actions the subject declares: the only ones a diagnosis may recommend.
    pub actions: Vec<ActionSpec>,
    /// What a fresh observation says, when the caller took one.
    pub now: Option<Now>,
    /// The ticket's log (opened, escalated, agent steps...).
    pub timeline: Vec<TicketEvent>,
    /// Observations of the subject, oldest first: before the incident, when the ticket opened or
    /// escalated, and recent ones.
    pub observations: Vec<ObservationEntry>,
    /// Other tickets open on the same subject while this one was.
    pub concurrent: Vec<RelatedTicket>,
    /// Earlier tickets of the same invariant on the same subject, newest first, and how they
    /// ended.
    pub similar: Vec<PastTicket>,
    /// Material the subject supplies for diagnosis (logs, server statistics...).
    pub extra: Vec<ContextSection>,
    /// What [`Context::trim`] dropped to fit the budget.
    pub trimmed: Vec<String>,
}

/// The subject as it describes itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectSection {
    /// Its name.
    pub name: String,
    /// Its own description of what it is and how it is built.
    pub description: String,
}

/// When an observation was taken, relative to the incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Before the violation was first seen.
    Before,
    /// While the ticket was open.
    During,
    /// The observation that opened the ticket.
    Opened,
    /// An observation that raised the ticket's severity.
    Escalated,
    /// After the ticket was resolved.
    After,
    /// The freshest observation, taken for this document.
    Current,
}

impl Phase {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Before => "before",
            Phase::During => "during",
            Phase::Opened => "opened",
            Phase::Escalated => "escalated",
            Phase::After => "after",
            Phase::Current => "current",
        }
    }
}

/// One observation of the subject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservationEntry {
    /// When it was taken.
    pub at: DateTime<Utc>,
    /// Where it falls in the incident.
    pub phase: Phase,
    /// The observation, as the subject serializes it.
    pub observation: Value,
}

/// Another ticket open at the same time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RelatedTicket {
    /// Its id.
    pub id: i64,
    /// Its invariant.
    pub invariant: String,
    /// Its entity.
    pub entity: Option<String>,
    /// Its severity.
    pub severity: Severity,
    /// Open or resolved now.
    pub status: TicketStatus,
    /// Its latest message.
    pub message: String,
    /// When it was first seen.
    pub first_seen: DateTime<Utc>,
    /// When it was resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Its latest evidence (dropped first when trimming).
    pub evidence: Value,
}

/// An earlier ticket of the same invariant, and how it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PastTicket {
    /// Its id.
    pub id: i64,
    /// Its entity.
    pub entity: Option<String>,
    /// Its severity.
    pub severity: Severity,
    /// Its latest message.
    pub message: String,
    /// When it was first seen.
    pub first_seen: DateTime<Utc>,
    /// When it was resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// How (`auto`, or a note: by hand, by the agent).
    pub resolution: Option<String>,
    /// The root cause of its latest diagnosis, if it had one.
    pub diagnosed_cause: Option<String>,
    /// Actions the agent ran on it, by name.
    pub actions_taken: Vec<String>,
}

/// Extra material a subject supplies, as a named JSON value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContextSection {
    /// Short name, e.g. `node_logs`.
    pub name: String,
    /// What it is, in one line.
    pub about: String,
    /// The material.
    pub value: Value,
}

impl ContextSection {
    /// A section.
    pub fn new(name: impl Into<String>, about: impl Into<String>, value: Value) -> Self {
        Self {
            name: name.into(),
            about: about.into(),
            value,
        }
    }
}

impl Context {
    /// Size of the JSON document in bytes: what the budget measures.
    pub fn size(&self) -> usize {
        serde_json::to_vec(self).map_or(0, |v| v.len())
    }

    /// The observations that deserialize as `O`, oldest first, with their time and phase.
    /// Observations that do not (an older format, a trimmed entry) are skipped.
    pub fn observations_as<O: serde::de::DeserializeOwned>(
        &self,
    ) -> Vec<(DateTime<Utc>, Phase, O)> {
        self.observations
            .iter()
            .filter_map(|e| {
                serde_json::from_value(e.observation.clone())
                    .ok()
                    .map(|o| (e.at, e.phase, o))
            })
            .collect()
    }

    /// The freshest observation that deserializes as `O`.
    pub fn latest_as<O: serde::de::DeserializeOwned>(&self) -> Option<(DateTime<Utc>, Phase, O)> {
        self.observations.iter().rev().find_map(|e| {
            serde_json::from_value(e.observation.clone())
                .ok()
                .map(|o| (e.at, e.phase, o))
        })
    }

    /// The extra section named `name`.
    pub fn extra(&self, name: &str) -> Option<&Value> {
        self.extra.iter().find(|s| s.name == name).map(|s| &s.value)
    }

    /// Tickets open at the same time whose invariant is `invariant`.
    pub fn concurrent_with<'a>(
        &'a self,
        invariant: &'a str,
    ) -> impl Iterator<Item = &'a RelatedTicket> + 'a {
        self.concurrent
            .iter()
            .filter(move |t| t.invariant == invariant)
    }
}
