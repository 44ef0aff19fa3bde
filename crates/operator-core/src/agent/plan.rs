//! The planning phase: what to do with each action the diagnosis recommends. Only a typed
//! (valid), allowed action not tried yet in this session runs, within the step cap; in
//! [`Mode::Propose`] the session ends with the plan.

use std::collections::BTreeSet;

use serde_json::json;

use super::config::AgentConfig;
use super::report::{Decision, Planned};
use super::state::{PlanItem, Session, State};
use crate::action::Action;
use crate::diagnosis::Recommendation;
use crate::error::Result;
use crate::subject::Subject;
use crate::ticket::{AuditKind, Mode, Outcome};

/// Decides about each of `recommendations` and records the decisions: next, the actions (or the
/// end, in [`Mode::Propose`], or an escalation when nothing can run).
///
/// # Errors
/// When the ticket store fails.
pub(super) async fn plan<S: Subject, C>(
    s: &mut Session<'_, S, C>,
    root_cause: &str,
    recommendations: &[Recommendation],
) -> Result<State<S::Action>> {
    let plan = decide::<S::Action>(recommendations, s.config, &s.tried, s.rec.steps);
    for (planned, _) in &plan {
        s.rec.entry(
            AuditKind::Plan,
            &format!("{}: {}", planned.action, planned.decision.describe()),
            None,
            &json!({ "action": planned.action, "reason": planned.reason, "decision": planned.decision }),
        )
        .await?;
    }
    s.report.plan.extend(plan.iter().map(|(p, _)| p.clone()));
    if s.config.mode == Mode::Propose {
        let names: Vec<String> = plan.iter().map(|(p, _)| p.action.to_string()).collect();
        let detail = if names.is_empty() {
            format!("diagnosed: {root_cause}; no declared action addresses it")
        } else {
            format!("diagnosed: {root_cause}; proposed {}", names.join(", "))
        };
        return Ok(State::finish(Outcome::Proposed, detail));
    }
    if !plan.iter().any(|(p, _)| p.decision == Decision::Run) {
        return Ok(State::escalate(no_action_reason(
            root_cause,
            &plan,
            &s.config.allow,
        )));
    }
    Ok(State::Act(plan))
}

/// The decision on each recommendation, in order: invalid (not an action of the subject), not
/// allowed, already tried, over the step cap (counting the `steps` already run and the ones
/// decided before it), or run; in [`Mode::Propose`], whether it would run.
pub(super) fn decide<A: Action>(
    recommendations: &[Recommendation],
    config: &AgentConfig,
    tried: &BTreeSet<String>,
    steps: u64,
) -> Vec<PlanItem<A>> {
    let mut runnable = 0;
    recommendations
        .iter()
        .map(|r| {
            let wire = r.wire();
            let typed = r.parse::<A>();
            let allowed = config.allow.contains(&r.action);
            let decision = match (&typed, config.mode) {
                (Err(e), _) => Decision::Invalid(e.to_string()),
                (Ok(_), Mode::Propose) if allowed => Decision::Proposed,
                (Ok(_), Mode::Propose) => Decision::ProposedNotAllowed,
                (Ok(_), _) if !allowed => Decision::NotAllowed,
                (Ok(_), _) if tried.contains(&wire.to_string()) => Decision::AlreadyTried,
                (Ok(_), _) if steps + runnable >= config.max_steps => Decision::OverStepCap,
                (Ok(_), _) => {
                    runnable += 1;
                    Decision::Run
                }
            };
            let planned = Planned {
                action: wire,
                reason: r.reason.clone(),
                decision,
            };
            (planned, typed.ok())
        })
        .collect()
}

/// Why nothing can be run, for the escalation.
pub(super) fn no_action_reason<A>(
    root_cause: &str,
    plan: &[PlanItem<A>],
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testing::Fix;
    use super::*;

    fn fix(unit: &str) -> Recommendation {
        Recommendation::typed(&Fix::Fix { unit: unit.into() }, "repairs it")
    }

    fn decisions(
        recommendations: &[Recommendation],
        config: &AgentConfig,
        tried: &[Recommendation],
        steps: u64,
    ) -> Vec<Decision> {
        let tried = tried.iter().map(|r| r.wire().to_string()).collect();
        decide::<Fix>(recommendations, config, &tried, steps)
            .into_iter()
            .map(|(p, _)| p.decision)
            .collect()
    }

    #[test]
    fn only_valid_allowed_untried_actions_within_the_step_cap_run() {
        let execute = AgentConfig::default()
            .mode(Mode::Execute)
            .allow("fix")
            .max_steps(2);
        let reboot = Recommendation::typed(&Fix::Reboot {}, "last resort");
        let bogus = Recommendation {
            action: "format_disk".into(),
            args: json!({}),
            reason: "why not".into(),
        };
        assert_eq!(
            decisions(&[fix("a"), reboot.clone(), bogus.clone()], &execute, &[], 0),
            [
                Decision::Run,
                Decision::NotAllowed,
                Decision::Invalid(
                    "unknown variant `format_disk`, expected `fix` or `reboot`".into()
                )
            ]
        );
        assert_eq!(
            decisions(&[fix("a"), fix("b"), fix("c")], &execute, &[fix("a")], 1),
            [Decision::AlreadyTried, Decision::Run, Decision::OverStepCap],
            "one step ran before, one more fits the cap of two"
        );
        let propose = execute.clone().mode(Mode::Propose);
        assert_eq!(
            decisions(&[fix("a"), reboot], &propose, &[], 0),
            [Decision::Proposed, Decision::ProposedNotAllowed]
        );
    }

    #[test]
    fn an_escalation_says_why_nothing_can_run() {
        let execute = AgentConfig::default().mode(Mode::Execute);
        let plan = decide::<Fix>(&[fix("a")], &execute, &BTreeSet::new(), 0);
        assert_eq!(
            no_action_reason("a is wedged", &plan, &execute.allow),
            "recommended fix not allowed (allowed: none) (diagnosed cause: a is wedged)"
        );
        assert_eq!(
            no_action_reason::<Fix>("a is wedged", &[], &execute.allow),
            "no declared action addresses the diagnosed cause: a is wedged"
        );
    }
}
