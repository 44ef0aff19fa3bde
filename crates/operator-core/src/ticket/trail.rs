//! The records of the audit trail: an agent's sessions (with their [`Mode`] and [`Outcome`]),
//! the [`AuditEntry`]s of each step (with their [`AuditKind`]), and the diagnoses kept with their
//! tickets. Their kinds are stored as text, with the names their `strum` derive gives.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use strum::{AsRefStr, Display, EnumString, IntoStaticStr};

use crate::diagnosis::DiagnosisReport;
use crate::text::serde_as_text;

/// How far the agent goes with a ticket (stored and shown as `observe`, `propose`, `execute`).
/// The order is the strength: a ticket diagnosed in a mode is not diagnosed again in a weaker one.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, AsRefStr, Display, EnumString, IntoStaticStr,
)]
#[strum(serialize_all = "snake_case")]
pub enum Mode {
    /// Diagnose and record; change nothing.
    Observe,
    /// Diagnose and record the actions it would run; change nothing.
    Propose,
    /// Diagnose, run the recommended actions that are allowed, verify, resolve or escalate.
    Execute,
}

impl Mode {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// How a session ended, as reported and as stored in the audit trail (`already_clear`,
/// `observed`, `proposed`, `resolved`, `escalated`).
#[derive(Debug, Clone, PartialEq, Eq, AsRefStr, Display, EnumString)]
#[strum(serialize_all = "snake_case")]
pub enum Outcome {
    /// The violation was no longer observed; nothing done (the monitor resolves the ticket).
    AlreadyClear,
    /// Diagnosed ([`Mode::Observe`]).
    Observed,
    /// Diagnosed, actions proposed ([`Mode::Propose`]).
    Proposed,
    /// Acted, and the violation was observed clear: the ticket is resolved.
    Resolved,
    /// Handed to a human, with the reason.
    Escalated,
    /// Failed. No session of this build ends so (one that fails is left unfinished), but a
    /// stored `failed` counts, like an unfinished session, toward the failures after which the
    /// agent leaves a ticket alone.
    Failed,
    /// An outcome this build does not know (written by another version), kept as it was stored.
    #[strum(default, transparent)]
    Other(String),
}

impl Outcome {
    /// The name stored in the audit trail.
    pub fn as_str(&self) -> &str {
        self.as_ref()
    }
}

/// What one step of a session recorded (stored as `observation`, `context`, `prompt`...).
#[derive(Debug, Clone, PartialEq, Eq, AsRefStr, Display, EnumString)]
#[strum(serialize_all = "snake_case")]
pub enum AuditKind {
    /// What an observation said about the violation.
    Observation,
    /// The context document built (its size, what was trimmed, its digest).
    Context,
    /// A request to a model.
    Prompt,
    /// A model's answer.
    Response,
    /// The diagnosis.
    Diagnosis,
    /// What was decided about one recommended action.
    Plan,
    /// An action run, and its result.
    Action,
    /// The re-observation after acting.
    Verification,
    /// The ticket handed to a human.
    Escalation,
    /// The ticket resolved after verification.
    Resolution,
    /// A kind this build does not know (written by another version), kept as it was stored.
    #[strum(default, transparent)]
    Other(String),
}

serde_as_text!(Mode, Outcome, AuditKind);

/// One agent's handling of one ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentSession {
    /// Id, unique in the store.
    pub id: i64,
    /// The ticket handled.
    pub ticket_id: i64,
    /// Its subject.
    pub subject: String,
    /// How far it went.
    pub mode: Mode,
    /// The diagnoser used.
    pub diagnoser: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it finished (`None` while running, or if the agent died).
    pub finished_at: Option<DateTime<Utc>>,
    /// How it ended.
    pub outcome: Option<Outcome>,
    /// Why, in one line.
    pub detail: Option<String>,
    /// Actions executed.
    pub steps: i64,
    /// Model tokens consumed.
    pub tokens: i64,
}

/// One step of a session (or of a `diagnose` run, which has no session).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Id, in recording order.
    pub id: i64,
    /// The ticket.
    pub ticket_id: i64,
    /// The session, if any.
    pub session_id: Option<i64>,
    /// When it was recorded.
    pub at: DateTime<Utc>,
    /// What the step was.
    pub kind: AuditKind,
    /// One line for a human.
    pub summary: String,
    /// SHA-256 of the recorded text, for prompts, responses and contexts.
    pub digest: Option<String>,
    /// The details, as JSON.
    pub body: serde_json::Value,
}

/// A diagnosis kept with its ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredDiagnosis {
    /// Id.
    pub id: i64,
    /// The session that produced it, if an agent did.
    pub session_id: Option<i64>,
    /// The report.
    pub report: DiagnosisReport,
}

/// `sha256:<hex>` of `text`.
pub fn digest(text: &str) -> String {
    let hash = Sha256::digest(text.as_bytes());
    let mut hex = String::with_capacity(7 + 64);
    hex.push_str("sha256:");
    for b in hash {
        hex.push_str(&format!("{b:02x}"));
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::digest;

    #[test]
    fn digests_are_sha256_hex() {
        assert_eq!(
            digest("abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
