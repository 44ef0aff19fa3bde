//! The agent: diagnoses open tickets and, when allowed, fixes them, verifying each fix by
//! observation.
//!
//! For each open ticket of its subject, a session ([`Agent::handle`]):
//! 1. observes the subject; a violation already clear is left for the monitor to resolve;
//! 2. gathers the context (trimmed to what the token cap leaves) and diagnoses it;
//! 3. in [`Mode::Observe`] stops there; in [`Mode::Propose`] records the actions it would run;
//! 4. in [`Mode::Execute`] runs the recommended actions that are allowed (typed: a
//!    recommendation that does not deserialize into the subject's action type is refused), then
//!    re-observes until the checker reports the violation clear on
//!    [`confirmations`](AgentConfig::confirmations) consecutive observations — the ticket is then
//!    resolved with the time it took — or until the verification deadline, when it diagnoses
//!    again and tries what it has not tried yet, within its caps;
//! 5. when nothing allowed is left to try, or a cap (steps, tokens, wall time) is reached, it
//!    escalates the ticket once, with the reason.
//!
//! The model's word never resolves anything: only an observation does. Every step is recorded in
//! the store's audit trail, and what a session concluded is persisted, so an escalated ticket is
//! never retried, even by a restarted agent.

mod config;
mod record;
mod session;
mod verify;

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

pub use crate::ticket::{Mode, Outcome};
pub use config::AgentConfig;

use crate::action::{Action, ActionReport};
use crate::assess::Status;
use crate::diagnosis::{Diagnosable, Diagnoser, DiagnosisReport};
use crate::error::{Error, Result};
use crate::history::History;
use crate::invariant::{InvariantChecker, ViolationKey};
use crate::subject::Subject;
use crate::ticket::{Ticket, TicketStatus, TicketStore};

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

/// The agent of one subject. It keeps its own window of recent observations for the checker.
pub struct Agent<S: Subject> {
    store: Arc<TicketStore>,
    diagnoser: Arc<dyn Diagnoser>,
    config: AgentConfig,
    history: History<S::Observation>,
}

impl<S: Subject> Agent<S> {
    /// An agent recording in `store` and diagnosing with `diagnoser`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] when the configuration does not fit the subject's actions.
    pub fn new(
        store: Arc<TicketStore>,
        diagnoser: Arc<dyn Diagnoser>,
        config: AgentConfig,
    ) -> Result<Self> {
        config
            .validate(&<S::Action as Action>::catalog())
            .map_err(Error::InvalidConfig)?;
        Ok(Self {
            store,
            diagnoser,
            config,
            history: History::new(30),
        })
    }

    /// Its configuration.
    pub fn config(&self) -> &AgentConfig {
        &self.config
    }

    /// Why the agent leaves `ticket` alone, if it does: escalated before (never retried),
    /// already diagnosed in this mode or a stronger one, found clear since it was last seen
    /// violated, or failed twice.
    ///
    /// # Errors
    /// When the ticket store fails.
    pub fn skip_reason(&self, ticket: &Ticket) -> Result<Option<String>> {
        let sessions = self.store.sessions(Some(ticket.id), 100)?;
        if let Some(s) = sessions
            .iter()
            .find(|s| s.outcome == Some(Outcome::Escalated))
        {
            return Ok(Some(format!(
                "escalated by session #{}; an escalated ticket is not retried",
                s.id
            )));
        }
        if let Some(s) = sessions.iter().find(|s| {
            matches!(s.outcome, Some(Outcome::Observed | Outcome::Proposed))
                && s.mode >= self.config.mode
        }) {
            return Ok(Some(format!(
                "already diagnosed in {} mode by session #{}",
                s.mode, s.id
            )));
        }
        if let Some(s) = sessions.first()
            && s.outcome == Some(Outcome::AlreadyClear)
            && ticket.last_seen <= s.started_at
        {
            return Ok(Some(format!(
                "found clear by session #{}; the monitor resolves it",
                s.id
            )));
        }
        let failed = sessions
            .iter()
            .filter(|s| matches!(s.outcome, None | Some(Outcome::Failed)))
            .count();
        if failed >= 2 {
            return Ok(Some(format!("{failed} sessions did not finish")));
        }
        Ok(None)
    }
}

impl<S: Diagnosable> Agent<S> {
    /// Handles every open ticket of `subject` that it has not already concluded on, oldest
    /// first.
    ///
    /// # Errors
    /// When the ticket store fails.
    pub async fn pass<C: InvariantChecker<S::Observation>>(
        &mut self,
        subject: &S,
        checker: &C,
    ) -> Result<Vec<SessionReport>> {
        let mut reports = Vec::new();
        for listed in self.store.open_tickets(subject.name())? {
            // An earlier session of this pass may have resolved it.
            let ticket = self.store.get(listed.id)?;
            if ticket.status != TicketStatus::Open {
                continue;
            }
            if let Some(why) = self.skip_reason(&ticket)? {
                tracing::debug!(subject = subject.name(), ticket = ticket.id, reason = %why, "ticket skipped");
                continue;
            }
            reports.push(self.handle(subject, checker, &ticket).await?);
        }
        Ok(reports)
    }

    /// Handles `ticket` once (see the [module documentation](self)).
    ///
    /// # Errors
    /// When the ticket store fails (the session is then left unfinished, and counts as failed).
    pub async fn handle<C: InvariantChecker<S::Observation>>(
        &mut self,
        subject: &S,
        checker: &C,
        ticket: &Ticket,
    ) -> Result<SessionReport> {
        let stale = self.config.verify_interval * 10;
        if self
            .history
            .latest()
            .is_some_and(|e| e.instant.elapsed() > stale.max(Duration::from_secs(5)))
        {
            self.history = History::new(self.history.capacity());
        }
        session::run(self, subject, checker, ticket).await
    }
}
