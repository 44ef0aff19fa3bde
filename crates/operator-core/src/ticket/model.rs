//! The records of the ticket store.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use strum::{AsRefStr, Display, EnumString};

use crate::invariant::{Severity, ViolationKey};
use crate::text::serde_as_text;

/// Whether a ticket is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TicketStatus {
    /// The violation is (or was last known to be) firing.
    Open,
    /// Cleared, automatically or by hand.
    Resolved,
}

impl TicketStatus {
    /// The lowercase name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            TicketStatus::Open => "open",
            TicketStatus::Resolved => "resolved",
        }
    }
}

impl fmt::Display for TicketStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A ticket: one violation of one invariant about one entity, from first sight to resolution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    /// Id, unique in the store.
    pub id: i64,
    /// Subject name.
    pub subject: String,
    /// Invariant name.
    pub invariant: String,
    /// Entity, if the violation concerns one.
    pub entity: Option<String>,
    /// Highest severity seen while open.
    pub severity: Severity,
    /// Open or resolved.
    pub status: TicketStatus,
    /// A held ticket is never resolved automatically.
    pub held: bool,
    /// Message of the latest occurrence.
    pub message: String,
    /// Evidence of the latest occurrence.
    pub evidence: serde_json::Value,
    /// Number of observations that showed the violation while the ticket was open.
    pub occurrences: i64,
    /// When the violation was first seen (start of its pending period).
    pub first_seen: DateTime<Utc>,
    /// When it was last seen.
    pub last_seen: DateTime<Utc>,
    /// When the ticket was resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// How it was resolved (`auto`, or a note given by hand).
    pub resolution: Option<String>,
}

impl Ticket {
    /// The violation identity this ticket tracks.
    pub fn key(&self) -> ViolationKey {
        ViolationKey {
            invariant: self.invariant.clone(),
            entity: self.entity.clone(),
        }
    }
}

/// What happened to a ticket, as its log says (and stores: `opened`, `cleared_while_held`...).
#[derive(Debug, Clone, PartialEq, Eq, AsRefStr, Display, EnumString)]
#[strum(serialize_all = "snake_case")]
pub enum EventKind {
    /// The violation fired: the ticket was opened.
    Opened,
    /// Its severity was raised by a worse occurrence, or the agent handed it to a human.
    Escalated,
    /// It was resolved, automatically or by hand.
    Resolved,
    /// It was held by hand: it is not resolved when its violation clears.
    Held,
    /// The hold was released.
    Unheld,
    /// Its violation cleared while it was held, so it stays open.
    ClearedWhileHeld,
    /// The agent ran an action on it.
    AgentAction,
    /// A kind this build does not know (written by another version), kept as it was stored.
    #[strum(default, transparent)]
    Other(String),
}

/// One entry of a ticket's log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketEvent {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// What happened.
    pub kind: EventKind,
    /// Human detail.
    pub detail: String,
}

/// Why a [`Snapshot`] was taken (stored as `opened` or `escalated`).
#[derive(Debug, Clone, PartialEq, Eq, AsRefStr, Display, EnumString)]
#[strum(serialize_all = "snake_case")]
pub enum SnapshotReason {
    /// The ticket opened.
    Opened,
    /// The ticket's severity was raised.
    Escalated,
    /// A reason this build does not know (written by another version), kept as it was stored.
    #[strum(default, transparent)]
    Other(String),
}

serde_as_text!(EventKind, SnapshotReason);

/// The subject's state stored with a ticket when it opened or escalated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// When it was taken.
    pub at: DateTime<Utc>,
    /// Why it was taken.
    pub reason: SnapshotReason,
    /// The observation that made the ticket open or escalate (`null` if observation failed).
    pub observation: serde_json::Value,
    /// Earlier observations, oldest first, as `[{"at": ..., "observation": ...}]`.
    pub history: serde_json::Value,
}

/// Which tickets to list.
#[derive(Debug, Clone, Default)]
pub struct TicketFilter {
    /// Only this subject.
    pub subject: Option<String>,
    /// Only this status.
    pub status: Option<TicketStatus>,
    /// Only this invariant.
    pub invariant: Option<String>,
    /// At most this many, newest first (all when `None`).
    pub limit: Option<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_print_as_stored_and_pad_in_tables() {
        assert_eq!(
            format!("{:<19}|", EventKind::Opened),
            "opened             |"
        );
        assert_eq!(
            format!("{:<19}|", EventKind::Other("x".into())),
            "x                  |"
        );
        assert_eq!(EventKind::ClearedWhileHeld.as_ref(), "cleared_while_held");
        assert_eq!(
            "from_a_newer_build".parse::<EventKind>().unwrap(),
            EventKind::Other("from_a_newer_build".into())
        );
        assert_eq!(SnapshotReason::Escalated.to_string(), "escalated");
    }
}
