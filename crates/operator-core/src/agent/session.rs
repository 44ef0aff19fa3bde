//! One session of the agent on one ticket: observe, diagnose, act, verify, conclude.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::{Agent, Decision, Executed, Mode, Outcome, Planned, SessionReport, Verification};
use crate::assess::{Assessment, Status, assess, assess_failure};
use crate::context::{self, Now};
use crate::diagnosis::DiagnosisReport;
use crate::error::Result;
use crate::invariant::{InvariantChecker, ViolationKey};
use crate::subject::Subject;
use crate::ticket::{Ticket, TicketStore};

/// Model output kept in reserve when trimming the context to the token cap.
const OUTPUT_RESERVE_TOKENS: u64 = 2_000;
/// Bytes of JSON per token, counted low so the cap holds.
const BYTES_PER_TOKEN: u64 = 3;

/// The session's bookkeeping and its audit trail.
struct Record {
    store: Arc<TicketStore>,
    ticket: i64,
    session: i64,
    steps: u64,
    tokens: u64,
    started: Instant,
}

impl Record {
    fn entry(&self, kind: &str, summary: &str, text: Option<&str>, body: &Value) -> Result<()> {
        self.store.add_audit(
            self.ticket,
            Some(self.session),
            kind,
            summary,
            text,
            body,
            Utc::now(),
        )?;
        Ok(())
    }

    fn diagnosis(&self, report: &DiagnosisReport) -> Result<()> {
        for x in &report.exchanges {
            self.entry(
                "prompt",
                &format!(
                    "{}/{} attempt {}: {} bytes",
                    x.provider,
                    x.model,
                    x.attempt,
                    x.request.len()
                ),
                Some(&x.request),
                &json!({ "provider": x.provider, "model": x.model, "attempt": x.attempt, "at": x.at, "text": x.request }),
            )?;
            self.entry(
                "response",
                &format!(
                    "{} in {} ms: {} bytes",
                    x.status
                        .map_or_else(|| "no answer".to_owned(), |s| format!("HTTP {s}")),
                    x.duration_ms,
                    x.response.len()
                ),
                Some(&x.response),
                &json!({ "status": x.status, "duration_ms": x.duration_ms, "text": x.response }),
            )?;
        }
        self.store.add_diagnosis(Some(self.session), report)?;
        let d = &report.diagnosis;
        let fallback = report
            .fallback
            .as_deref()
            .map(|f| format!(" [offline fallback: {f}]"))
            .unwrap_or_default();
        self.entry(
            "diagnosis",
            &format!("{} ({:.0}%){fallback}", d.root_cause, d.confidence * 100.0),
            None,
            &serde_json::to_value(report)?,
        )
    }
}

pub(super) async fn run<S, C>(
    agent: &mut Agent<S>,
    subject: &S,
    checker: &C,
    ticket: &Ticket,
) -> Result<SessionReport>
where
    S: Subject,
    C: InvariantChecker<S::Observation>,
{
    let config = agent.config.clone();
    let key = ticket.key();
    let store = Arc::clone(&agent.store);
    let session = store.start_session(
        ticket.id,
        subject.name(),
        config.mode.as_str(),
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
        "observation",
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
            Some(Now {
                at: now.0,
                status: now.1.status,
                violations: now.1.violations.clone(),
                error: now.1.error.clone(),
            }),
            &config.context,
        )
        .await?;
        ctx.trim(budget);
        let text = serde_json::to_string(&ctx)?;
        rec.entry(
            "context",
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
                "plan",
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
            rec.entry("action", &summary, None, &serde_json::to_value(&executed)?)?;
            store.add_event(
                ticket.id,
                "agent_action",
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
            "verification",
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
            rec.entry("resolution", &detail, None, &json!({ "note": detail }))?;
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

/// Observes once, assesses the ticket's violation, and remembers the observation.
async fn observe<S, C>(
    agent: &mut Agent<S>,
    subject: &S,
    checker: &C,
    key: &ViolationKey,
) -> (chrono::DateTime<Utc>, Assessment)
where
    S: Subject,
    C: InvariantChecker<S::Observation>,
{
    let at = Utc::now();
    match tokio::time::timeout(agent.config.observe_timeout, subject.observe()).await {
        Ok(Ok(obs)) => {
            let a = assess(checker, key, &obs, &agent.history);
            agent.history.push(at, Instant::now(), Arc::new(obs));
            (at, a)
        }
        Ok(Err(e)) => (at, assess_failure(key, error_chain(&e))),
        Err(_) => (
            at,
            assess_failure(
                key,
                format!(
                    "observation timed out after {} ms",
                    agent.config.observe_timeout.as_millis()
                ),
            ),
        ),
    }
}

/// Re-observes until the violation is clear `confirmations` times in a row, or `window` passes.
async fn verify<S, C>(
    agent: &mut Agent<S>,
    subject: &S,
    checker: &C,
    key: &ViolationKey,
    acted_at: Instant,
    window: Duration,
) -> (Verification, (chrono::DateTime<Utc>, Assessment))
where
    S: Subject,
    C: InvariantChecker<S::Observation>,
{
    let start = Instant::now();
    let interval = agent.config.verify_interval;
    let needed = agent.config.confirmations;
    let mut streak = 0;
    let mut observations = 0;
    loop {
        let (at, a) = observe(agent, subject, checker, key).await;
        observations += 1;
        if a.status == Status::Clear {
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
                last_status: a.status,
                last: a.describe(),
            };
            return (v, (at, a));
        }
        tokio::time::sleep(interval).await;
    }
}

/// Why nothing can be run, for the escalation.
fn no_action_reason<A>(
    root_cause: &str,
    plan: &[(Planned, Option<A>)],
    allow: &BTreeSet<String>,
) -> String {
    if plan.is_empty() {
        return format!("no declared action addresses the diagnosed cause: {root_cause}");
    }
    let list = |d: fn(&Decision) -> bool| -> Vec<String> {
        plan.iter()
            .filter(|(p, _)| d(&p.decision))
            .map(|(p, _)| p.action["action"].as_str().unwrap_or("?").to_owned())
            .collect()
    };
    let mut parts = Vec::new();
    let not_allowed = list(|d| matches!(d, Decision::NotAllowed));
    if !not_allowed.is_empty() {
        parts.push(format!(
            "recommended {} not allowed (allowed: {})",
            not_allowed.join(", "),
            if allow.is_empty() {
                "none".to_owned()
            } else {
                allow.iter().cloned().collect::<Vec<_>>().join(", ")
            }
        ));
    }
    let tried = list(|d| matches!(d, Decision::AlreadyTried));
    if !tried.is_empty() {
        parts.push(format!(
            "{} already ran and the violation persists",
            tried.join(", ")
        ));
    }
    let invalid = list(|d| matches!(d, Decision::Invalid(_)));
    if !invalid.is_empty() {
        parts.push(format!("{} invalid", invalid.join(", ")));
    }
    if plan
        .iter()
        .any(|(p, _)| p.decision == Decision::OverStepCap)
    {
        parts.push("step cap reached".to_owned());
    }
    format!("{} (diagnosed cause: {root_cause})", parts.join("; "))
}

fn finish(
    rec: &Record,
    mut report: SessionReport,
    outcome: Outcome,
    detail: String,
) -> Result<SessionReport> {
    report.outcome = outcome;
    report.detail = detail;
    report.steps = rec.steps;
    report.tokens = rec.tokens;
    report.elapsed_ms = millis(rec.started.elapsed());
    rec.store.finish_session(
        rec.session,
        outcome.as_str(),
        &report.detail,
        rec.steps,
        rec.tokens,
        Utc::now(),
    )?;
    tracing::info!(ticket = rec.ticket, session = rec.session, outcome = outcome.as_str(), detail = %report.detail, "agent session finished");
    Ok(report)
}

/// Hands the ticket to a human, once: a ticket event and the session's outcome.
fn escalate(rec: &Record, report: SessionReport, reason: String) -> Result<SessionReport> {
    rec.store.add_event(
        rec.ticket,
        "escalated",
        &format!("by agent session #{}: {reason}", rec.session),
        Utc::now(),
    )?;
    rec.entry("escalation", &reason, None, &json!({ "reason": reason }))?;
    finish(rec, report, Outcome::Escalated, reason)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `error: cause: cause`.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let c = cause.to_string();
        if !s.contains(&c) {
            s.push_str(": ");
            s.push_str(&c);
        }
        source = cause.source();
    }
    s
}
