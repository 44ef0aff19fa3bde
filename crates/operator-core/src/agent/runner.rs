//! [`Agent`]: the sessions of one subject's agent, one per open ticket it has not concluded on.

use std::sync::Arc;
use std::time::Duration;

use tracing::Instrument;

use super::config::AgentConfig;
use super::report::SessionReport;
use super::session;
use super::state::Session;
use crate::action::Action;
use crate::diagnosis::{Diagnosable, Diagnoser};
use crate::error::{Error, Result};
use crate::history::History;
use crate::invariant::InvariantChecker;
use crate::subject::Subject;
use crate::ticket::{Outcome, Ticket, TicketStatus, TicketStore};

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
    pub async fn skip_reason(&self, ticket: &Ticket) -> Result<Option<String>> {
        let id = ticket.id;
        let sessions = self.store.call(move |s| s.sessions(Some(id), 100)).await?;
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
        let name = subject.name().to_owned();
        let open = self.store.call(move |s| s.open_tickets(&name)).await?;
        for listed in open {
            // An earlier session of this pass may have resolved it.
            let id = listed.id;
            let ticket = self.store.call(move |s| s.get(id)).await?;
            if ticket.status != TicketStatus::Open {
                continue;
            }
            if let Some(why) = self.skip_reason(&ticket).await? {
                tracing::debug!(subject = subject.name(), ticket = ticket.id, reason = %why, "ticket skipped");
                continue;
            }
            reports.push(self.handle(subject, checker, &ticket).await?);
        }
        Ok(reports)
    }

    /// Handles `ticket` once (see the [module documentation](crate::agent)), in an
    /// `agent_session` span naming the subject, the ticket, its invariant and the session.
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
        let span = tracing::info_span!(
            "agent_session",
            subject = subject.name(),
            ticket = ticket.id,
            invariant = %ticket.invariant,
            session = tracing::field::Empty,
        );
        async {
            let session = Session::start(
                Arc::clone(&self.store),
                &*self.diagnoser,
                &self.config,
                &mut self.history,
                subject,
                checker,
                ticket,
            )
            .await?;
            session::run(session).await
        }
        .instrument(span)
        .await
    }
}
