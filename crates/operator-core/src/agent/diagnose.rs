//! The diagnosis phase: within the caps, gather the context of the ticket (trimmed to what the
//! token cap leaves) and diagnose it.

use serde_json::json;
use tokio::time::Instant;

use super::config::AgentConfig;
use super::state::{Reading, Session, State};
use crate::assess::Now;
use crate::context::{self, Context};
use crate::diagnosis::Diagnosable;
use crate::error::Result;
use crate::invariant::InvariantChecker;
use crate::ticket::{AuditKind, Mode, Outcome};

/// Model output kept in reserve when trimming the context to the token cap.
const OUTPUT_RESERVE_TOKENS: u64 = 2_000;
/// Bytes of JSON per token, counted low so the cap holds.
const BYTES_PER_TOKEN: u64 = 3;

/// Diagnoses the ticket, given what the last observation said: next, the plan (or the end, in
/// [`Mode::Observe`], or an escalation when a cap is reached or no diagnosis comes).
///
/// # Errors
/// When the ticket store fails.
pub(super) async fn diagnose<S, C>(
    s: &mut Session<'_, S, C>,
    now: Reading,
) -> Result<State<S::Action>>
where
    S: Diagnosable,
    C: InvariantChecker<S::Observation>,
{
    if let Some(why) = cap_reached(s.config, s.rec.tokens, s.deadline, Instant::now()) {
        return Ok(State::escalate(why));
    }
    let ctx = context(s, &now).await?;
    let remaining = s.deadline.saturating_duration_since(Instant::now());
    let diagnosis = match tokio::time::timeout(remaining, s.diagnoser.diagnose(&ctx)).await {
        Ok(Ok(d)) => d,
        Ok(Err(e)) => {
            s.rec.tokens += e.usage.total();
            return Ok(State::escalate(format!("no diagnosis: {}", e.message)));
        }
        Err(_) => return Ok(State::escalate("wall-time cap reached while diagnosing")),
    };
    s.rec.tokens += diagnosis.usage.total();
    s.report.tokens = s.rec.tokens;
    s.rec.diagnosis(&diagnosis).await?;
    let root_cause = diagnosis.diagnosis.root_cause.clone();
    let recommendations = diagnosis.diagnosis.actions.clone();
    s.report.diagnosis = Some(diagnosis);
    if s.config.mode == Mode::Observe {
        return Ok(State::finish(
            Outcome::Observed,
            format!("diagnosed: {root_cause}"),
        ));
    }
    Ok(State::Plan {
        root_cause,
        recommendations,
    })
}

/// Why the session cannot go on diagnosing, if a cap is reached: the tokens spent, or the wall
/// time at `now`.
pub(super) fn cap_reached(
    config: &AgentConfig,
    tokens: u64,
    deadline: Instant,
    now: Instant,
) -> Option<String> {
    if tokens >= config.max_tokens {
        return Some(format!(
            "token cap reached ({tokens} of {} tokens) before a fix was verified",
            config.max_tokens
        ));
    }
    if now >= deadline {
        return Some(format!(
            "wall-time cap of {} s reached before a fix was verified",
            config.max_time.as_secs()
        ));
    }
    None
}

/// The context budget in bytes: what the tokens left allow (keeping room for the answer), and
/// never more than the configured budget.
pub(super) fn budget(config: &AgentConfig, tokens: u64) -> usize {
    let left = config.max_tokens.saturating_sub(tokens);
    usize::try_from(
        left.saturating_sub(OUTPUT_RESERVE_TOKENS)
            .saturating_mul(BYTES_PER_TOKEN),
    )
    .unwrap_or(usize::MAX)
    .min(config.context.budget)
}

/// Gathers the context of the ticket as it is now, trims it to the budget and records it.
async fn context<S, C>(s: &mut Session<'_, S, C>, now: &Reading) -> Result<Context>
where
    S: Diagnosable,
    C: InvariantChecker<S::Observation>,
{
    let ticket = s.rec.ticket().await?;
    let budget = budget(s.config, s.rec.tokens);
    let mut ctx = context::gather(
        &s.rec.store,
        s.subject,
        s.checker.invariants(),
        &ticket,
        s.history,
        Some(Now::new(now.at, &now.assessment)),
        &s.config.context,
    )
    .await?;
    ctx.trim(budget);
    let text = serde_json::to_string(&ctx)?;
    let trimmed = if ctx.trimmed.is_empty() {
        String::new()
    } else {
        format!(", trimmed: {}", ctx.trimmed.join("; "))
    };
    s.rec.entry(
        AuditKind::Context,
        &format!(
            "{} bytes (budget {budget}), {} observations, {} concurrent tickets, {} similar{trimmed}",
            text.len(),
            ctx.observations.len(),
            ctx.concurrent.len(),
            ctx.similar.len(),
        ),
        Some(&text),
        &json!({ "bytes": text.len(), "budget": budget, "trimmed": ctx.trimmed }),
    )
        .await?;
    Ok(ctx)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn caps_stop_the_diagnosis_tokens_first() {
        let config = AgentConfig::default()
            .max_tokens(1_000)
            .max_time(Duration::from_secs(60));
        let start = Instant::now();
        let deadline = start + config.max_time;
        assert_eq!(cap_reached(&config, 999, deadline, start), None);
        assert_eq!(
            cap_reached(&config, 1_000, deadline, deadline).as_deref(),
            Some("token cap reached (1000 of 1000 tokens) before a fix was verified")
        );
        assert_eq!(
            cap_reached(&config, 0, deadline, deadline).as_deref(),
            Some("wall-time cap of 60 s reached before a fix was verified")
        );
    }

    #[test]
    fn the_budget_is_what_the_tokens_left_allow_within_the_configured_one() {
        let config = AgentConfig::default().max_tokens(60_000);
        assert_eq!(budget(&config, 0), config.context.budget);
        assert_eq!(budget(&config, 50_000), (10_000 - 2_000) * 3);
        assert_eq!(
            budget(&config, 59_000),
            0,
            "the answer's reserve comes first"
        );
    }
}
