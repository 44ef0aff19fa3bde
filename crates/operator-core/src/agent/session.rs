//! One session of the agent on one ticket, stepped through its phases until it ends: observe,
//! diagnose, plan, act, verify (and diagnose again), then conclude, finished or escalated.

use serde_json::json;

use super::act::act;
use super::diagnose::diagnose;
use super::plan::plan;
use super::record::millis;
use super::report::SessionReport;
use super::state::{End, Session, State};
use super::verify::{observe, verify};
use crate::diagnosis::Diagnosable;
use crate::error::Result;
use crate::invariant::InvariantChecker;
use crate::ticket::{AuditKind, EventKind, Outcome};

/// Runs `session` from its first observation to its end, and records how it ended.
///
/// # Errors
/// When the ticket store fails (the session is then left unfinished, and counts as failed).
pub(super) async fn run<S, C>(mut session: Session<'_, S, C>) -> Result<SessionReport>
where
    S: Diagnosable,
    C: InvariantChecker<S::Observation>,
{
    let mut state = State::Observe;
    let end = loop {
        state = match state {
            State::Done(end) => break end,
            // Boxed: the phases' futures (context gathering calls into the subject) nest deep
            // enough that a caller's future would pass the compiler's layout depth limit.
            state => Box::pin(step(&mut session, state)).await?,
        };
    };
    conclude(session, end).await
}

/// Runs the phase `state` names, returning the next state.
///
/// # Errors
/// When the ticket store fails.
async fn step<S, C>(s: &mut Session<'_, S, C>, state: State<S::Action>) -> Result<State<S::Action>>
where
    S: Diagnosable,
    C: InvariantChecker<S::Observation>,
{
    match state {
        State::Observe => observe(s).await,
        State::Diagnose(now) => diagnose(s, now).await,
        State::Plan {
            root_cause,
            recommendations,
        } => plan(s, &root_cause, &recommendations).await,
        State::Act(items) => act(s, items).await,
        State::Verify { acted_at, ran } => verify(s, acted_at, &ran).await,
        State::Done(end) => Ok(State::Done(end)),
    }
}

/// Records the end of the session: an escalation first hands the ticket to a human (a ticket
/// event and an audit entry), then the outcome is stored and reported.
async fn conclude<S: Diagnosable, C>(s: Session<'_, S, C>, end: End) -> Result<SessionReport> {
    let rec = &s.rec;
    let (outcome, detail) = match end {
        End::Finished(outcome, detail) => (outcome, detail),
        End::Escalated(reason) => {
            rec.event(
                EventKind::Escalated,
                format!("by agent session #{}: {reason}", rec.session),
            )
            .await?;
            rec.entry(
                AuditKind::Escalation,
                &reason,
                None,
                &json!({ "reason": reason }),
            )
            .await?;
            (Outcome::Escalated, reason)
        }
    };
    let mut report = s.report;
    report.outcome = outcome;
    report.detail = detail;
    report.steps = rec.steps;
    report.tokens = rec.tokens;
    report.elapsed_ms = millis(rec.started.elapsed());
    rec.finish(report.outcome.clone(), report.detail.clone())
        .await?;
    tracing::info!(outcome = %report.outcome, detail = %report.detail, "agent session finished");
    Ok(report)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use super::super::config::AgentConfig;
    use super::super::report::{Decision, Planned};
    use super::super::testing::{Fix, Fixture, Unit};
    use super::*;
    use crate::ticket::Mode;

    fn run_fix() -> (Planned, Option<Fix>) {
        let action = Fix::Fix { unit: "u".into() };
        let planned = Planned {
            action: serde_json::to_value(&action).unwrap(),
            reason: "repairs it".into(),
            decision: Decision::Run,
        };
        (planned, Some(action))
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_action_escalates_and_is_in_the_tickets_log() {
        let mut f = Fixture::new();
        let (store, ticket) = (Arc::clone(&f.store), f.ticket.id);
        let unit = Unit {
            stuck: true,
            ..Unit::default()
        };
        let config = AgentConfig::default().mode(Mode::Execute).allow("fix");
        let mut s = f.session(&unit, &config).await;
        let next = step(&mut s, State::Act(vec![run_fix()])).await.unwrap();
        assert!(
            matches!(&next, State::Done(End::Escalated(why)) if why == "action fix failed: the unit is stuck"),
            "{next:?}"
        );
        assert_eq!((s.rec.steps, s.report.executed.len()), (1, 1));
        let log = store.events(ticket).unwrap();
        assert_eq!(log.last().unwrap().kind, EventKind::AgentAction);
        assert!(
            log.last()
                .unwrap()
                .detail
                .ends_with("fix failed: the unit is stuck")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_fix_not_verified_is_diagnosed_again_until_the_step_cap() {
        let mut f = Fixture::new();
        let unit = Unit::default();
        unit.broken.store(true, Ordering::SeqCst);
        let config = AgentConfig::default()
            .mode(Mode::Execute)
            .max_steps(2)
            .verify_timeout(Duration::from_secs(2));
        let mut s = f.session(&unit, &config).await;
        s.rec.steps = 1;
        let verify = || State::Verify {
            acted_at: tokio::time::Instant::now(),
            ran: vec!["reboot".into()],
        };
        let next = step(&mut s, verify()).await.unwrap();
        assert!(matches!(next, State::Diagnose(_)), "{next:?}");
        let v = s.report.verification.as_ref().unwrap();
        assert!(!v.clear && v.observations >= 2, "{v:?}");

        s.rec.steps = 2;
        let next = step(&mut s, verify()).await.unwrap();
        assert!(
            matches!(&next, State::Done(End::Escalated(why)) if why.contains("after reboot and the step cap (2) is reached: u is broken")),
            "{next:?}"
        );
    }
}
