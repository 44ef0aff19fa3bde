//! The phases that observe: the first observation of a session (a violation already clear is
//! left for the monitor), and the verification of a fix, which only an observation can give.

use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;

use super::record::millis;
use super::report::Verification;
use super::state::{Reading, Session, State};
use crate::assess::{Status, observe_and_assess};
use crate::error::Result;
use crate::invariant::InvariantChecker;
use crate::subject::Subject;
use crate::ticket::{AuditKind, Outcome};

/// Observes the ticket's violation before anything else: next, the diagnosis (or the end, when
/// the violation is already clear).
///
/// # Errors
/// When the ticket store fails.
pub(super) async fn observe<S, C>(s: &mut Session<'_, S, C>) -> Result<State<S::Action>>
where
    S: Subject,
    C: InvariantChecker<S::Observation>,
{
    let now = look(s).await;
    let a = &now.assessment;
    s.rec
        .entry(
            AuditKind::Observation,
            &format!("{}: {}", a.status, a.describe()),
            None,
            &json!({ "status": a.status, "violation": a.violation, "error": a.error }),
        )
        .await?;
    if a.status == Status::Clear {
        return Ok(State::finish(
            Outcome::AlreadyClear,
            "the violation is no longer observed; the monitor resolves the ticket",
        ));
    }
    Ok(State::Diagnose(now))
}

/// Re-observes after the actions `ran` (the first started `acted_at`) until the violation is
/// clear enough times in a row: next, the end (resolved), or another diagnosis, or an escalation
/// once the step cap is reached.
///
/// # Errors
/// When the ticket store fails.
pub(super) async fn verify<S, C>(
    s: &mut Session<'_, S, C>,
    acted_at: Instant,
    ran: &[String],
) -> Result<State<S::Action>>
where
    S: Subject,
    C: InvariantChecker<S::Observation>,
{
    let window = s
        .config
        .verify_timeout
        .min(s.deadline.saturating_duration_since(Instant::now()));
    let (v, last) = reobserve(s, acted_at, window).await;
    let seconds = v.after_ms as f64 / 1000.0;
    s.rec
        .entry(
            AuditKind::Verification,
            &format!(
                "{} after {seconds:.1} s, {} observations: {}",
                if v.clear { "clear" } else { "not clear" },
                v.observations,
                v.last
            ),
            None,
            &serde_json::to_value(&v)?,
        )
        .await?;
    let (verified, observations) = (v.clear, v.observations);
    s.report.verification = Some(v);
    let ran = ran.join(", ");
    if verified {
        return resolve(s, seconds, observations, &ran).await;
    }
    if s.rec.steps >= s.config.max_steps {
        return Ok(State::escalate(format!(
            "still not clear {seconds:.1} s after {ran} and the step cap ({}) is reached: {}",
            s.config.max_steps,
            last.assessment.describe()
        )));
    }
    tracing::info!("not clear after acting; diagnosing again");
    Ok(State::Diagnose(last))
}

/// Resolves the ticket after a verified fix, saying so in the note (or that the monitor had
/// resolved it already).
async fn resolve<S: Subject, C>(
    s: &mut Session<'_, S, C>,
    seconds: f64,
    observations: u32,
    ran: &str,
) -> Result<State<S::Action>> {
    let note = format!(
        "resolved by agent after verification in {seconds:.1} s ({observations} observations after {ran}; session #{})",
        s.rec.session
    );
    let t = s.rec.resolve(note.clone()).await?;
    let detail = if t.resolution.as_deref() == Some(note.as_str()) {
        note
    } else {
        format!(
            "verified clear in {seconds:.1} s after {ran}; the monitor had already resolved the ticket"
        )
    };
    s.rec
        .entry(
            AuditKind::Resolution,
            &detail,
            None,
            &json!({ "note": detail }),
        )
        .await?;
    Ok(State::finish(Outcome::Resolved, detail))
}

/// Observes once, assesses the ticket's violation, and remembers the observation.
async fn look<S, C>(s: &mut Session<'_, S, C>) -> Reading
where
    S: Subject,
    C: InvariantChecker<S::Observation>,
{
    let key = s.ticket.key();
    let timeout = s.config.observe_timeout;
    let (at, assessment) = observe_and_assess(s.subject, s.checker, &key, s.history, timeout).await;
    Reading { at, assessment }
}

/// Re-observes until the violation is clear `confirmations` times in a row, or `window` passes.
async fn reobserve<S, C>(
    s: &mut Session<'_, S, C>,
    acted_at: Instant,
    window: Duration,
) -> (Verification, Reading)
where
    S: Subject,
    C: InvariantChecker<S::Observation>,
{
    let start = Instant::now();
    let interval = s.config.verify_interval;
    let needed = s.config.confirmations;
    let mut streak = 0;
    let mut observations = 0;
    loop {
        let now = look(s).await;
        observations += 1;
        if now.assessment.status == Status::Clear {
            streak += 1;
        } else {
            streak = 0;
        }
        let done = streak >= needed;
        if done || start.elapsed() + interval > window {
            let v = Verification {
                clear: done,
                after_ms: millis(acted_at.elapsed()),
                observations,
                last_status: now.assessment.status,
                last: now.assessment.describe(),
            };
            return (v, now);
        }
        tokio::time::sleep(interval).await;
    }
}
