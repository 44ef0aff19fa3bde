//! One session of the agent on one ticket: observe, diagnose, act, verify, conclude.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::Utc;
use serde_json::json;
use tokio::time::Instant;

use super::record::{Record, escalate, finish, millis, no_action_reason};
use super::verify::{observe, verify};
use super::{Agent, Decision, Executed, Mode, Outcome, Planned, SessionReport};
use crate::assess::Status;
use crate::context::{self, Now};
use crate::diagnosis::Diagnosable;
use crate::error::Result;
use crate::error::error_chain;
use crate::invariant::InvariantChecker;
use crate::ticket::{AuditKind, EventKind, Ticket};

/// Model output kept in reserve when trimming the context to the token cap.
const OUTPUT_RESERVE_TOKENS: u64 = 2_000;
/// Bytes of JSON per token, counted low so the cap holds.
const BYTES_PER_TOKEN: u64 = 3;

pub(super) async fn run<S, C>(
    agent: &mut Agent<S>,
    subject: &S,
    checker: &C,
    ticket: &Ticket,
) -> Result<SessionReport>
where
    S: Diagnosable,
    C: InvariantChecker<S::Observation>,
{
    let config = agent.config.clone();
    let key = ticket.key();
    let store = Arc::clone(&agent.store);
    let session = store.start_session(
        ticket.id,
        subject.name(),
        config.mode,
        &agent.diagnoser.name(),
        Utc::now(),
    )?;
    tracing::info!(subject = subject.name(), ticket = ticket.id, invariant = %ticket.invariant, session, mode = %config.mode, "agent session started");
    let mut rec = Record {
        store: Arc::clone(&store),
        ticket: ticket.id,
        session,
        steps: 0,
        tokens: 0,
        started: Instant::now(),
    };
    let deadline = rec.started + config.max_time;
    let mut report = SessionReport {
        session,
        ticket: ticket.id,
        key: key.clone(),
        mode: config.mode,
        outcome: Outcome::Observed,
        detail: String::new(),
        diagnosis: None,
        plan: Vec::new(),
        executed: Vec::new(),
        verification: None,
        steps: 0,
        tokens: 0,
        elapsed_ms: 0,
    };

    let mut now = observe(agent, subject, checker, &key).await;
    rec.entry(
        AuditKind::Observation,
        &format!("{}: {}", now.1.status, now.1.describe()),
        None,
        &json!({ "status": now.1.status, "violation": now.1.violation, "error": now.1.error }),
    )?;
    if now.1.status == Status::Clear {
        return finish(
            &rec,
            report,
            Outcome::AlreadyClear,
            "the violation is no longer observed; the monitor resolves the ticket".to_owned(),
        );
    }

    let mut tried: BTreeSet<String> = BTreeSet::new();
    loop {
        if rec.tokens >= config.max_tokens {
            let why = format!(
                "token cap reached ({} of {} tokens) before a fix was verified",
                rec.tokens, config.max_tokens
            );
            return escalate(&rec, report, why);
        }
        if Instant::now() >= deadline {
            let why = format!(
                "wall-time cap of {} s reached before a fix was verified",
                config.max_time.as_secs()
            );
            return escalate(&rec, report, why);
        }

        // Context, trimmed to what the token cap leaves.
        let ticket_now = store.get(ticket.id)?;
        let left = config.max_tokens.saturating_sub(rec.tokens);
        let budget = usize::try_from(
            left.saturating_sub(OUTPUT_RESERVE_TOKENS)
                .saturating_mul(BYTES_PER_TOKEN),
        )
        .unwrap_or(usize::MAX)
        .min(config.context.budget);
        let mut ctx = context::gather(
            &store,
            subject,
            checker.invariants(),
            &ticket_now,
            &agent.history,
            Some(Now::new(now.0, &now.1)),
            &config.context,
        )
        .await?;
        ctx.trim(budget);
        let text = serde_json::to_string(&ctx)?;
        rec.entry(
            AuditKind::Context,
            &format!(
                "{} bytes (budget {budget}), {} observations, {} concurrent tickets, {} similar{}",
                text.len(),
                ctx.observations.len(),
                ctx.concurrent.len(),
                ctx.similar.len(),
                if ctx.trimmed.is_empty() {
                    String::new()
                } else {
                    format!(", trimmed: {}", ctx.trimmed.join("; "))
                }
            ),
            Some(&text),
            &json!({ "bytes": text.len(), "budget": budget, "trimmed": ctx.trimmed }),
        )?;

        let remaining = deadline.saturating_duration_since(Instant::now());
        let diagnosis = match tokio::time::timeout(remaining, agent.diagnoser.diagnose(&ctx)).await
        {
            Ok(Ok(d)) => d,
            Ok(Err(e)) => {
                rec.tokens += e.usage.total();
                let why = format!("no diagnosis: {}", e.message);
                return escalate(&rec, report, why);
            }
            Err(_) => {
                let why = "wall-time cap reached while diagnosing".to_owned();
                return escalate(&rec, report, why);
            }
        };
        rec.tokens += diagnosis.usage.total();
        report.tokens = rec.tokens;
        rec.diagnosis(&diagnosis)?;
        let root_cause = diagnosis.diagnosis.root_cause.clone();
        let recommendations = diagnosis.diagnosis.actions.clone();
        report.diagnosis = Some(diagnosis);
        if config.mode == Mode::Observe {
            return finish(
                &rec,
                report,
                Outcome::Observed,
                format!("diagnosed: {root_cause}"),
            );
        }

        // Plan: typed, allowed, not yet tried, within the step cap.
        let mut plan: Vec<(Planned, Option<S::Action>)> = Vec::new();
        let mut runnable = 0;
        for r in &recommendations {
            let wire = r.wire();
            let typed = r.parse::<S::Action>();
            let allowed = config.allow.contains(&r.action);
            let decision = match (&typed, config.mode) {
                (Err(e), _) => Decision::Invalid(e.to_string()),
                (Ok(_), Mode::Propose) if allowed => Decision::Proposed,
                (Ok(_), _) if !allowed => {
                    if config.mode == Mode::Propose {
                        Decision::ProposedNotAllowed
                    } else {
                        Decision::NotAllowed
                    }
                }
                (Ok(_), _) if tried.contains(&wire.to_string()) => Decision::AlreadyTried,
                (Ok(_), _) if rec.steps + runnable >= config.max_steps => Decision::OverStepCap,
                (Ok(_), _) => {
                    runnable += 1;
                    Decision::Run
                }
            };
            rec.entry(
                AuditKind::Plan,
                &format!("{wire}: {}", decision.describe()),
                None,
                &json!({ "action": wire, "reason": r.reason, "decision": decision }),
            )?;
            plan.push((
                Planned {
                    action: wire,
                    reason: r.reason.clone(),
                    decision,
                },
                typed.ok(),
            ));
        }
        report.plan.extend(plan.iter().map(|(p, _)| p.clone()));
        if config.mode == Mode::Propose {
            let names: Vec<String> = plan.iter().map(|(p, _)| p.action.to_string()).collect();
            let detail = if names.is_empty() {
                format!("diagnosed: {root_cause}; no declared action addresses it")
            } else {
                format!("diagnosed: {root_cause}; proposed {}", names.join(", "))
            };
            return finish(&rec, report, Outcome::Proposed, detail);
        }
        if runnable == 0 {
            let why = no_action_reason(&root_cause, &plan, &config.allow);
            return escalate(&rec, report, why);
        }

        // Act.
        let acted_at = Instant::now();
        let mut ran = Vec::new();
        for (planned, typed) in plan {
            let (Decision::Run, Some(action)) = (&planned.decision, typed) else {
                continue;
            };
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return escalate(
                    &rec,
                    report,
                    "wall-time cap reached before every action ran".to_owned(),
                );
            }
            rec.steps += 1;
            report.steps = rec.steps;
            tried.insert(planned.action.to_string());
            let name = planned.action["action"].as_str().unwrap_or("?").to_owned();
            let started = Instant::now();
            let outcome = tokio::time::timeout(remaining, subject.execute(&action)).await;
            let duration_ms = millis(started.elapsed());
            let executed = match outcome {
                Ok(Ok(r)) => Executed {
                    action: planned.action.clone(),
                    report: Some(r),
                    error: None,
                    duration_ms,
                },
                Ok(Err(e)) => Executed {
                    action: planned.action.clone(),
                    report: None,
                    error: Some(error_chain(&e)),
                    duration_ms,
                },
                Err(_) => Executed {
                    action: planned.action.clone(),
                    report: None,
                    error: Some("timed out at the wall-time cap".to_owned()),
                    duration_ms,
                },
            };
            let summary = match (&executed.report, &executed.error) {
                (Some(r), _) => format!("ran {name}: {}", r.summary),
                (_, Some(e)) => format!("{name} failed: {e}"),
                _ => format!("ran {name}"),
            };
            tracing::info!(subject = subject.name(), ticket = ticket.id, action = %name, ok = executed.error.is_none(), "{summary}");
            rec.entry(
                AuditKind::Action,
                &summary,
                None,
                &serde_json::to_value(&executed)?,
            )?;
            store.add_event(
                ticket.id,
                &EventKind::AgentAction,
                &format!("session #{session}: {summary}"),
                Utc::now(),
            )?;
            let failed = executed.error.clone();
            report.executed.push(executed);
            ran.push(name.clone());
            if let Some(e) = failed {
                return escalate(&rec, report, format!("action {name} failed: {e}"));
            }
        }

        // Verify by observation, never by the diagnosis.
        let window = config
            .verify_timeout
            .min(deadline.saturating_duration_since(Instant::now()));
        let (v, last) = verify(agent, subject, checker, &key, acted_at, window).await;
        rec.entry(
            AuditKind::Verification,
            &format!(
                "{} after {:.1} s, {} observations: {}",
                if v.clear { "clear" } else { "not clear" },
                v.after_ms as f64 / 1000.0,
                v.observations,
                v.last
            ),
            None,
            &serde_json::to_value(&v)?,
        )?;
        let verified = v.clear;
        let seconds = v.after_ms as f64 / 1000.0;
        let observations = v.observations;
        report.verification = Some(v);
        if verified {
            let note = format!(
                "resolved by agent after verification in {seconds:.1} s ({observations} observations after {}; session #{session})",
                ran.join(", ")
            );
            let t = store.resolve(ticket.id, &note, Utc::now())?;
            let detail = if t.resolution.as_deref() == Some(note.as_str()) {
                note
            } else {
                format!(
                    "verified clear in {seconds:.1} s after {}; the monitor had already resolved the ticket",
                    ran.join(", ")
                )
            };
            rec.entry(
                AuditKind::Resolution,
                &detail,
                None,
                &json!({ "note": detail }),
            )?;
            return finish(&rec, report, Outcome::Resolved, detail);
        }
        if rec.steps >= config.max_steps {
            let why = format!(
                "still not clear {seconds:.1} s after {} and the step cap ({}) is reached: {}",
                ran.join(", "),
                config.max_steps,
                last.1.describe()
            );
            return escalate(&rec, report, why);
        }
        tracing::info!(
            subject = subject.name(),
            ticket = ticket.id,
            "not clear after acting; diagnosing again"
        );
        now = last;
    }
}
