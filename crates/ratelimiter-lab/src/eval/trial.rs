//! One trial of one fault, on the demo's running context: healthy check, inject, detection,
//! offline diagnosis, repair (the agent, or the fault's undo), resolution, cleanup. The facts
//! are measured here and judged by [`verdict::judge`](super::verdict::judge).

use std::sync::Arc;
use std::time::Duration;

use operator_core::agent::Outcome;
use operator_core::assess::observe_now;
use operator_core::context::{ContextConfig, gather};
use operator_core::{
    Agent, Event, InvariantChecker, Mode, OfflineDiagnoser, Subject, Ticket, TicketStore,
};
use operator_ratelimiter::{RateLimiterChecker, RateLimiterSubject};
use tokio::time::Instant;

use super::report::TrialRecord;
use super::timeline::Timeline;
use super::verdict::{TrialFacts, judge};
use crate::chaos::{self, Expectation, Fault, Remedy};
use crate::demo::story::Ctx;
use crate::error::Result;

/// What a trial works with besides the running context: a subject and checker of its own (for
/// the diagnosis and the agent, while the monitor keeps ticking), the tickets, the agent.
pub(crate) struct Tools {
    pub(crate) subject: RateLimiterSubject,
    pub(crate) checker: RateLimiterChecker,
    pub(crate) store: Arc<TicketStore>,
    pub(crate) diagnoser: OfflineDiagnoser,
    pub(crate) agent: Option<Agent<RateLimiterSubject>>,
    pub(crate) observe_timeout: Duration,
    pub(crate) timeline: Timeline,
}

/// How long a self-healing fault is watched after its heal, for a ticket that would last.
const AFTER_HEAL: Duration = Duration::from_secs(2);

/// Runs trial `n` of `fault` and judges it.
///
/// # Errors
/// When the ticket store fails; whatever else goes wrong is a lost trial.
pub(crate) async fn run(
    ctx: &mut Ctx<'_>,
    tools: &mut Tools,
    fault: Fault,
    n: usize,
) -> Result<TrialRecord> {
    let expectation = fault.expectation();
    let endpoints = ctx.env.endpoints();
    // A shard's primary is known once the fault acted on it: resolved after the injection.
    let expected = expectation
        .fires
        .and_then(|x| x.key(|node| endpoints.node_addr(node).ok(), None));
    let _ = tools.timeline.take();
    let expect = match (&expected, expectation.fires) {
        (Some(k), Some(x)) => format!("{k} reported, diagnosed as {}, resolved", x.cause),
        (None, Some(x)) => format!(
            "{} reported, diagnosed as {}, resolved",
            x.describe(),
            x.cause
        ),
        (_, None) => "its heal verified, no lasting ticket".to_owned(),
    };
    ctx.begin(
        n,
        &format!("{fault}, trial {n}"),
        &fault.to_string(),
        &expect,
    );
    let mut facts = TrialFacts {
        expected: expected.clone(),
        ..TrialFacts::default()
    };
    facts.healthy_before = ctx.until(ctx.deadline, Ctx::healthy).await?;
    if !facts.healthy_before {
        ctx.note(format!("not healthy: firing {:?}", ctx.firing()));
    }
    let from = ctx.seen.len();
    let mut state = State::default();
    if facts.healthy_before {
        inject_and_repair(
            ctx,
            tools,
            fault,
            &expectation,
            &mut facts,
            &mut state,
            from,
        )
        .await?;
    }
    cleanup(
        ctx,
        tools,
        fault,
        &expectation,
        &mut facts,
        &mut state,
        from,
    )
    .await?;
    facts.opened = ctx.seen[from..]
        .iter()
        .filter(|s| matches!(s.event, Event::Opened { .. }))
        .map(|s| s.what())
        .collect();
    let verdict = judge(&expectation, &facts);
    ctx.note(if verdict.won {
        "won".to_owned()
    } else {
        format!("LOST: {}", verdict.reasons.join("; "))
    });
    Ok(TrialRecord {
        fault: fault.to_string(),
        trial: n,
        facts,
        verdict,
        timeline: tools.timeline.take(),
    })
}

/// What the repair left for the cleanup to know.
#[derive(Debug, Default)]
struct State {
    /// The fault's undo ran.
    undone: bool,
    /// Tickets the agent resolved (the monitor reports no resolution for those).
    agent_resolved: Vec<i64>,
}

/// Injects, waits for the expected ticket, diagnoses it, repairs, waits for the resolution.
async fn inject_and_repair(
    ctx: &mut Ctx<'_>,
    tools: &mut Tools,
    fault: Fault,
    expectation: &Expectation,
    facts: &mut TrialFacts,
    state: &mut State,
    from: usize,
) -> Result<()> {
    let env = ctx.env;
    let report = match ctx.during(chaos::inject(env, fault)).await? {
        Ok(r) => r,
        Err(e) => {
            ctx.note(format!("inject failed: {e}"));
            facts.inject_error = Some(e.to_string());
            return Ok(());
        }
    };
    ctx.fault(&report);
    facts.inject_failed_checks = failed(&report.checks);
    let Some(x) = expectation.fires else {
        ctx.observe_for(AFTER_HEAL).await?;
        return Ok(());
    };
    if facts.expected.is_none() {
        facts.expected = x.key(|_| None, report.entity.as_deref());
    }
    let Some(key) = facts.expected.clone() else {
        ctx.note(format!(
            "{fault} named no instance: {} cannot be resolved",
            x.describe()
        ));
        return Ok(());
    };
    let opened = |c: &Ctx<'_>| c.find(from, |s| s.is_opened(&key)).cloned();
    ctx.until(ctx.deadline, |c| opened(c).is_some()).await?;
    let Some(seen) = opened(ctx) else {
        return Ok(());
    };
    facts.detected_ms = Some(Ctx::between(report.instant, seen.instant));
    let id = seen.event.ticket();
    let ticket = tools.store.call(move |s| s.get(id)).await?;
    let diagnosed = ctx.during(diagnose(tools, &ticket)).await?;
    match diagnosed {
        Ok((rule, cause)) => {
            ctx.note(format!(
                "offline diagnosis: {} ({cause})",
                rule.as_deref().unwrap_or("no rule")
            ));
            facts.diagnosis = Some(rule);
        }
        Err(e) => ctx.note(format!("diagnosis failed: {e}")),
    }
    let resolved_at = agent_session(ctx, tools, expectation, id, facts, state).await?;
    if resolved_at.is_none() && expectation.remedy != Remedy::Itself {
        undo(ctx, fault, facts, state).await?;
    }
    let resolved = |c: &Ctx<'_>| c.find(from, |s| s.is_resolved(&key)).map(|s| s.instant);
    ctx.until(ctx.deadline * 2, |c| {
        resolved_at.is_some() || resolved(c).is_some()
    })
    .await?;
    if let Some(at) = resolved_at.or_else(|| resolved(ctx)) {
        facts.resolved_ms = Some(Ctx::between(seen.instant, at));
    }
    Ok(())
}

/// The agent's session on ticket `id`, if there is an agent: the instant it resolved the ticket
/// after verifying its repair, if it did. Whether it had to repair it (execute mode, the
/// fault's action allowed) goes into `facts`.
async fn agent_session(
    ctx: &mut Ctx<'_>,
    tools: &mut Tools,
    expectation: &Expectation,
    id: i64,
    facts: &mut TrialFacts,
    state: &mut State,
) -> Result<Option<Instant>> {
    let Some(agent) = tools.agent.as_mut() else {
        return Ok(None);
    };
    let ticket = tools.store.call(move |s| s.get(id)).await?;
    let session = ctx
        .during(agent.handle(&tools.subject, &tools.checker, &ticket))
        .await?;
    let asked = match expectation.remedy {
        Remedy::Action(a) => {
            agent.config().mode == Mode::Execute && agent.config().allow.contains(a)
        }
        Remedy::Itself | Remedy::Undo => false,
    };
    let mut resolved_at = None;
    match session {
        Ok(s) => {
            let line = format!("{}: {}", s.outcome.as_str(), s.detail);
            ctx.note(format!("agent session #{}: {line}", s.session));
            if s.outcome == Outcome::Resolved {
                resolved_at = Some(Instant::now());
                state.agent_resolved.push(id);
            }
            if asked {
                facts.agent_repaired = Some(s.outcome == Outcome::Resolved);
                facts.agent_detail = Some(line);
            }
        }
        Err(e) => {
            ctx.note(format!("agent session failed: {e}"));
            if asked {
                facts.agent_repaired = Some(false);
                facts.agent_detail = Some(e.to_string());
            }
        }
    }
    Ok(resolved_at)
}

/// Runs the fault's undo, and records a failed one as the stack not whole.
async fn undo(
    ctx: &mut Ctx<'_>,
    fault: Fault,
    facts: &mut TrialFacts,
    state: &mut State,
) -> Result<()> {
    let env = ctx.env;
    state.undone = true;
    match ctx.during(chaos::undo(env, fault)).await? {
        Ok(r) => {
            ctx.fault(&r);
            facts.cleanup_failed.extend(failed(&r.checks));
        }
        Err(e) => {
            ctx.note(format!("undo failed: {e}"));
            facts.cleanup_failed.push(format!("undo {fault}: {e}"));
        }
    }
    Ok(())
}

/// Leaves the stack as the trial found it: the undo if it has not run (the keys a repaired
/// `stuck-keys` left, a fault never detected), the stack verified whole, every ticket of the
/// trial resolved.
async fn cleanup(
    ctx: &mut Ctx<'_>,
    tools: &Tools,
    fault: Fault,
    expectation: &Expectation,
    facts: &mut TrialFacts,
    state: &mut State,
    from: usize,
) -> Result<()> {
    if facts.healthy_before
        && facts.inject_error.is_none()
        && !state.undone
        && expectation.remedy != Remedy::Itself
    {
        undo(ctx, fault, facts, state).await?;
    }
    let env = ctx.env;
    let checks = ctx.during(chaos::verify_whole(env)).await?;
    facts.cleanup_failed.extend(failed(&checks));
    let agent_resolved = state.agent_resolved.clone();
    let settled = |c: &Ctx<'_>| c.healthy() && open_since(c, from, &agent_resolved).is_empty();
    ctx.until(ctx.deadline * 2, settled).await?;
    let subject = tools.subject.name().to_owned();
    let open: Vec<Ticket> = tools.store.call(move |s| s.open_tickets(&subject)).await?;
    facts.still_open = open
        .iter()
        .map(|t| match &t.entity {
            Some(e) => format!("{}[{e}]", t.invariant),
            None => t.invariant.clone(),
        })
        .collect();
    Ok(())
}

/// Tickets opened since `from` that neither the monitor nor the agent resolved since.
fn open_since(ctx: &Ctx<'_>, from: usize, agent_resolved: &[i64]) -> Vec<i64> {
    let events = &ctx.seen[from.min(ctx.seen.len())..];
    events
        .iter()
        .filter_map(|s| match s.event {
            Event::Opened { ticket, .. } => Some(ticket),
            _ => None,
        })
        .filter(|t| {
            !agent_resolved.contains(t)
                && !events
                    .iter()
                    .any(|s| matches!(s.event, Event::Resolved { ticket, .. } if ticket == *t))
        })
        .collect()
}

/// The offline diagnosis of `ticket`: the rule that explains it (none fits: `None`) and the root
/// cause it states.
async fn diagnose(tools: &Tools, ticket: &Ticket) -> Result<(Option<String>, String)> {
    let (recent, now) = observe_now(
        &tools.subject,
        &tools.checker,
        ticket,
        tools.observe_timeout,
    )
    .await;
    let context = gather(
        &tools.store,
        &tools.subject,
        tools.checker.invariants(),
        ticket,
        &recent,
        Some(now),
        &ContextConfig::default(),
    )
    .await?;
    let report = tools.diagnoser.diagnose_now(&context);
    Ok((report.rule, report.diagnosis.root_cause))
}

/// `what: detail` of each check that failed.
fn failed(checks: &[chaos::Check]) -> Vec<String> {
    checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| format!("{}: {}", c.what, c.detail))
        .collect()
}
