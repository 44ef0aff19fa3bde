//! What a session reports: the decision on each recommended action, the actions run, the
//! verification, and the [`SessionReport`] that sums them up.

use serde::Serialize;

use crate::action::ActionReport;
use crate::assess::Status;
use crate::diagnosis::DiagnosisReport;
use crate::invariant::ViolationKey;
use crate::ticket::{Mode, Outcome, Ticket};

/// What the agent decided about one recommended action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Run it.
    Run,
    /// Proposed only ([`Mode::Propose`]): it would run.
    Proposed,
    /// Proposed only: it would not run, because it is not allowed.
    ProposedNotAllowed,
    /// Not in the allow list.
    NotAllowed,
    /// Not a valid action of the subject.
    Invalid(String),
    /// Run earlier in this session, without clearing the violation.
    AlreadyTried,
    /// The step cap is reached.
    OverStepCap,
}

impl Decision {
    /// One line for the audit trail.
    pub fn describe(&self) -> String {
        match self {
            Decision::Run => "run".to_owned(),
            Decision::Proposed => "proposed (allowed: would run)".to_owned(),
            Decision::ProposedNotAllowed => "proposed (not allowed: would be escalated)".to_owned(),
            Decision::NotAllowed => "not allowed".to_owned(),
            Decision::Invalid(e) => format!("invalid: {e}"),
            Decision::AlreadyTried => "already tried".to_owned(),
            Decision::OverStepCap => "over the step cap".to_owned(),
        }
    }
}

/// A recommended action and what the agent decided.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Planned {
    /// `{"action": ..., "args": ...}`.
    pub action: serde_json::Value,
    /// Why the diagnosis recommends it.
    pub reason: String,
    /// The decision.
    pub decision: Decision,
}

/// An action the agent ran.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Executed {
    /// `{"action": ..., "args": ...}`.
    pub action: serde_json::Value,
    /// What it changed, when it succeeded.
    pub report: Option<ActionReport>,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// How long it took, in ms.
    pub duration_ms: u64,
}

/// The outcome of re-observing after acting.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verification {
    /// Whether the violation was observed clear enough times in a row.
    pub clear: bool,
    /// Time from the first action to the verdict, in ms.
    pub after_ms: u64,
    /// Observations taken.
    pub observations: u32,
    /// Status at the last observation.
    pub last_status: Status,
    /// What the last observation said about the violation.
    pub last: String,
}

/// What one session did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionReport {
    /// The session's id in the audit trail.
    pub session: i64,
    /// The ticket.
    pub ticket: i64,
    /// Its violation.
    #[serde(flatten)]
    pub key: ViolationKey,
    /// The mode.
    pub mode: Mode,
    /// How it ended.
    pub outcome: Outcome,
    /// Why, in one line.
    pub detail: String,
    /// The last diagnosis.
    pub diagnosis: Option<DiagnosisReport>,
    /// Every recommended action and the decision taken.
    pub plan: Vec<Planned>,
    /// Actions run.
    pub executed: Vec<Executed>,
    /// The last verification.
    pub verification: Option<Verification>,
    /// Actions run (the step count).
    pub steps: u64,
    /// Model tokens spent.
    pub tokens: u64,
    /// Wall time spent, in ms.
    pub elapsed_ms: u64,
}

impl SessionReport {
    /// The report of session `session` on `ticket` as it starts: nothing done yet.
    pub(crate) fn new(session: i64, ticket: &Ticket, mode: Mode) -> Self {
        Self {
            session,
            ticket: ticket.id,
            key: ticket.key(),
            mode,
            outcome: Outcome::Observed,
            detail: String::new(),
            diagnosis: None,
            plan: Vec::new(),
            executed: Vec::new(),
            verification: None,
            steps: 0,
            tokens: 0,
            elapsed_ms: 0,
        }
    }
}
