//! A session as an explicit state machine: [`State`] says which phase comes next, and
//! [`Session`] holds what the phases share (the subject, the caps, the audit trail, the report).
//!
//! Each phase is a function of the session and its state's data that returns the next state
//! (`observe` and `verify` in `verify.rs`, `diagnose`, `plan` and `act` in their files), so each
//! can be run and tested alone; `session.rs` only steps through them and concludes.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::config::AgentConfig;
use super::record::Record;
use super::report::{Planned, SessionReport};
use crate::assess::Assessment;
use crate::diagnosis::{Diagnoser, Recommendation};
use crate::error::Result;
use crate::history::History;
use crate::subject::Subject;
use crate::ticket::{Outcome, Ticket, TicketStore};

/// What an observation said about the ticket's violation, and when it was taken.
#[derive(Debug, Clone)]
pub(super) struct Reading {
    /// When the observation started.
    pub(super) at: DateTime<Utc>,
    /// The verdict on the violation.
    pub(super) assessment: Assessment,
}

/// A recommended action with the agent's decision, and the typed action when it is valid.
pub(super) type PlanItem<A> = (Planned, Option<A>);

/// Where a session is.
#[derive(Debug)]
pub(super) enum State<A> {
    /// Observe first: a violation already clear is left for the monitor to resolve.
    Observe,
    /// Within the caps, gather the context (with what the last observation said) and diagnose.
    Diagnose(Reading),
    /// Decide about each recommended action of the diagnosis.
    Plan {
        /// The diagnosed root cause.
        root_cause: String,
        /// The diagnosis's recommended actions, in order.
        recommendations: Vec<Recommendation>,
    },
    /// Run the actions decided.
    Act(Vec<PlanItem<A>>),
    /// Re-observe after acting until the violation is clear, or the window closes.
    Verify {
        /// When the first action started.
        acted_at: Instant,
        /// The actions run, by name.
        ran: Vec<String>,
    },
    /// The session is over.
    Done(End),
}

impl<A> State<A> {
    /// The session ends with `outcome`.
    pub(super) fn finish(outcome: Outcome, detail: impl Into<String>) -> Self {
        State::Done(End::Finished(outcome, detail.into()))
    }

    /// The ticket goes to a human, with `reason`.
    pub(super) fn escalate(reason: impl Into<String>) -> Self {
        State::Done(End::Escalated(reason.into()))
    }
}

/// How a session ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum End {
    /// With this outcome and detail.
    Finished(Outcome, String),
    /// Handed to a human (once: a ticket event and the outcome), with the reason.
    Escalated(String),
}

/// What the phases of one session share.
pub(super) struct Session<'a, S: Subject, C> {
    /// The subject.
    pub(super) subject: &'a S,
    /// Its checker.
    pub(super) checker: &'a C,
    /// The ticket handled, as it was when the session started.
    pub(super) ticket: &'a Ticket,
    /// The agent's configuration.
    pub(super) config: &'a AgentConfig,
    /// Who diagnoses.
    pub(super) diagnoser: &'a dyn Diagnoser,
    /// The agent's recent observations.
    pub(super) history: &'a mut History<S::Observation>,
    /// The audit trail and the counters.
    pub(super) rec: Record,
    /// What the session did so far.
    pub(super) report: SessionReport,
    /// When the wall-time cap is reached.
    pub(super) deadline: Instant,
    /// The actions run so far (as wire JSON), never run twice.
    pub(super) tried: BTreeSet<String>,
}

impl<'a, S: Subject, C> Session<'a, S, C> {
    /// Starts a session on `ticket`: recorded in `store`, within `config`'s caps from now.
    ///
    /// # Errors
    /// When the store cannot record the session.
    pub(super) async fn start(
        store: Arc<TicketStore>,
        diagnoser: &'a dyn Diagnoser,
        config: &'a AgentConfig,
        history: &'a mut History<S::Observation>,
        subject: &'a S,
        checker: &'a C,
        ticket: &'a Ticket,
    ) -> Result<Self> {
        let session = {
            let (id, name, mode, by) = (
                ticket.id,
                subject.name().to_owned(),
                config.mode,
                diagnoser.name(),
            );
            store
                .call(move |s| s.start_session(id, &name, mode, &by, Utc::now()))
                .await?
        };
        tracing::Span::current().record("session", session);
        tracing::info!(mode = %config.mode, "agent session started");
        let rec = Record::new(store, ticket.id, session);
        Ok(Self {
            subject,
            checker,
            ticket,
            config,
            diagnoser,
            history,
            deadline: rec.started + config.max_time,
            report: SessionReport::new(session, ticket, config.mode),
            rec,
            tried: BTreeSet::new(),
        })
    }
}
