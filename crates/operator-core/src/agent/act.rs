//! The action phase: run the actions the plan decided, in order, each bounded by what is left of
//! the wall-time cap, recording each in the audit trail and in the ticket's log.

use std::time::Duration;

use tokio::time::Instant;

use super::record::millis;
use super::report::{Decision, Executed};
use super::state::{PlanItem, Session, State};
use crate::error::{Result, error_chain};
use crate::subject::Subject;
use crate::ticket::{AuditKind, EventKind};

/// Runs the actions decided to run: next, the verification (or an escalation when an action
/// fails or the wall-time cap comes first).
///
/// # Errors
/// When the ticket store fails.
pub(super) async fn act<S: Subject, C>(
    s: &mut Session<'_, S, C>,
    plan: Vec<PlanItem<S::Action>>,
) -> Result<State<S::Action>> {
    let acted_at = Instant::now();
    let mut ran = Vec::new();
    for (planned, typed) in plan {
        let (Decision::Run, Some(action)) = (&planned.decision, typed) else {
            continue;
        };
        let remaining = s.deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Ok(State::escalate(
                "wall-time cap reached before every action ran",
            ));
        }
        s.rec.steps += 1;
        s.report.steps = s.rec.steps;
        s.tried.insert(planned.action.to_string());
        let name = planned.action["action"].as_str().unwrap_or("?").to_owned();
        let executed = execute(s.subject, &action, planned.action, remaining).await;
        let summary = summary(&name, &executed);
        tracing::info!(action = %name, ok = executed.error.is_none(), "{summary}");
        s.rec
            .entry(
                AuditKind::Action,
                &summary,
                None,
                &serde_json::to_value(&executed)?,
            )
            .await?;
        s.rec
            .event(
                EventKind::AgentAction,
                format!("session #{}: {summary}", s.rec.session),
            )
            .await?;
        let failed = executed.error.clone();
        s.report.executed.push(executed);
        ran.push(name.clone());
        if let Some(e) = failed {
            return Ok(State::escalate(format!("action {name} failed: {e}")));
        }
    }
    Ok(State::Verify { acted_at, ran })
}

/// Runs `action` (`wire` is its JSON form), giving up after `remaining`.
async fn execute<S: Subject>(
    subject: &S,
    action: &S::Action,
    wire: serde_json::Value,
    remaining: Duration,
) -> Executed {
    let started = Instant::now();
    let outcome = tokio::time::timeout(remaining, subject.execute(action)).await;
    let (report, error) = match outcome {
        Ok(Ok(r)) => (Some(r), None),
        Ok(Err(e)) => (None, Some(error_chain(&e))),
        Err(_) => (None, Some("timed out at the wall-time cap".to_owned())),
    };
    Executed {
        action: wire,
        report,
        error,
        duration_ms: millis(started.elapsed()),
    }
}

/// One line on what running action `name` did.
fn summary(name: &str, executed: &Executed) -> String {
    match (&executed.report, &executed.error) {
        (Some(r), _) => format!("ran {name}: {}", r.summary),
        (_, Some(e)) => format!("{name} failed: {e}"),
        _ => format!("ran {name}"),
    }
}
