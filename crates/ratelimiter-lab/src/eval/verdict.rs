//! Whether a trial was won: [`TrialFacts`], what the runner measured, judged against the fault's
//! [`Expectation`] by [`judge`], a pure function.

use serde::Serialize;

use crate::chaos::{Expectation, TicketClass};

/// What one trial observed, before any judgment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TrialFacts {
    /// The stack looked healthy (nothing firing) before the fault.
    pub healthy_before: bool,
    /// Why the fault could not be injected at all, if it could not.
    pub inject_error: Option<String>,
    /// The fault's own verifications that failed (for a self-healing fault: its heal).
    pub inject_failed_checks: Vec<String>,
    /// The expected ticket, `invariant[entity]` (none for a self-healing fault).
    pub expected: Option<String>,
    /// From the fault taking effect to the expected ticket opening.
    pub detected_ms: Option<u64>,
    /// The offline diagnosis rule that explained the expected ticket (`Some(None)`: diagnosed,
    /// but no rule fits; `None`: not diagnosed).
    pub diagnosis: Option<Option<String>>,
    /// The agent was asked to repair it (execute mode, the fault's action allowed) and did:
    /// `Some(true)`; was asked and did not: `Some(false)`, with `agent_detail`.
    pub agent_repaired: Option<bool>,
    /// What the agent's session said.
    pub agent_detail: Option<String>,
    /// From the expected ticket opening to its resolution (by the agent's verification or the
    /// monitor's re-observation).
    pub resolved_ms: Option<u64>,
    /// Every ticket opened during the trial, `invariant[entity]`, in order.
    pub opened: Vec<String>,
    /// Tickets of the trial still open when it ended.
    pub still_open: Vec<String>,
    /// Cleanup verifications that failed (the stack not whole again).
    pub cleanup_failed: Vec<String>,
}

/// The judgment of one trial.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// Every expectation held.
    pub won: bool,
    /// Why not, one line each (empty when won).
    pub reasons: Vec<String>,
    /// Tickets neither expected nor a legitimate side effect: false tickets.
    pub unexpected: Vec<String>,
    /// The diagnosis named the expected cause.
    pub diagnosis_correct: bool,
}

/// Judges `facts` against `expectation`.
pub fn judge(expectation: &Expectation, facts: &TrialFacts) -> Verdict {
    let mut reasons = Vec::new();
    if !facts.healthy_before {
        reasons.push("the stack was not healthy before the fault".to_owned());
    }
    if let Some(e) = &facts.inject_error {
        reasons.push(format!("the fault could not be injected: {e}"));
    }
    if !facts.inject_failed_checks.is_empty() {
        let what = if expectation.fires.is_none() {
            "its heal was not verified"
        } else {
            "the fault's verification failed"
        };
        reasons.push(format!("{what}: {}", facts.inject_failed_checks.join("; ")));
    }
    let mut diagnosis_correct = false;
    if let Some(x) = &expectation.fires {
        let what = facts.expected.as_deref().unwrap_or(x.invariant);
        if facts.detected_ms.is_none() {
            reasons.push(format!("{what} was not reported"));
        } else {
            match &facts.diagnosis {
                Some(Some(rule)) if rule == x.cause => diagnosis_correct = true,
                Some(Some(rule)) => {
                    reasons.push(format!("the diagnosis named {rule}, expected {}", x.cause))
                }
                Some(None) => reasons.push(format!(
                    "no diagnosis rule explained it, expected {}",
                    x.cause
                )),
                None => reasons.push("it was not diagnosed".to_owned()),
            }
            if facts.resolved_ms.is_none() {
                reasons.push(format!("{what} was not resolved"));
            }
        }
    }
    if facts.agent_repaired == Some(false) {
        reasons.push(format!(
            "the agent did not repair it: {}",
            facts.agent_detail.as_deref().unwrap_or("no session")
        ));
    }
    let mut unexpected: Vec<String> = Vec::new();
    for what in &facts.opened {
        let class = expectation.classify(what, facts.expected.as_deref());
        if class == TicketClass::Unexpected && !unexpected.contains(what) {
            unexpected.push(what.clone());
        }
    }
    if !unexpected.is_empty() {
        reasons.push(format!("unexpected tickets: {}", unexpected.join(", ")));
    }
    if !facts.still_open.is_empty() {
        reasons.push(format!(
            "still open when the trial ended: {}",
            facts.still_open.join(", ")
        ));
    }
    if !facts.cleanup_failed.is_empty() {
        reasons.push(format!(
            "the stack was not whole again: {}",
            facts.cleanup_failed.join("; ")
        ));
    }
    Verdict {
        won: reasons.is_empty(),
        reasons,
        unexpected,
        diagnosis_correct,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chaos::Fault;

    fn won_kill_node() -> TrialFacts {
        TrialFacts {
            healthy_before: true,
            expected: Some("node_down[127.0.0.1:8002]".into()),
            detected_ms: Some(480),
            diagnosis: Some(Some("node_process_down".into())),
            resolved_ms: Some(2_100),
            opened: vec![
                "node_down[127.0.0.1:8002]".into(),
                "high_latency[127.0.0.1:8002]".into(),
            ],
            ..TrialFacts::default()
        }
    }

    #[test]
    fn a_trial_that_saw_everything_it_expected_is_won() {
        let v = judge(&Fault::KillNode(2).expectation(), &won_kill_node());
        assert!(v.won, "{:?}", v.reasons);
        assert!(v.diagnosis_correct);
        assert!(v.unexpected.is_empty());
    }

    #[test]
    fn each_missing_expectation_loses_the_trial_and_says_why() {
        let e = Fault::KillNode(2).expectation();
        type Break = fn(&mut TrialFacts);
        let cases: [(Break, &str); 8] = [
            (|f| f.healthy_before = false, "not healthy before"),
            (|f| f.detected_ms = None, "was not reported"),
            (
                |f| f.diagnosis = Some(Some("node_not_ready".into())),
                "named node_not_ready, expected node_process_down",
            ),
            (|f| f.diagnosis = Some(None), "no diagnosis rule"),
            (|f| f.resolved_ms = None, "was not resolved"),
            (
                |f| f.opened.push("node_down[127.0.0.1:8001]".into()),
                "unexpected tickets: node_down[127.0.0.1:8001]",
            ),
            (
                |f| f.still_open.push("high_latency[127.0.0.1:8002]".into()),
                "still open",
            ),
            (
                |f| f.inject_error = Some("node-2 is not running".into()),
                "could not be injected",
            ),
        ];
        for (brk, says) in cases {
            let mut f = won_kill_node();
            brk(&mut f);
            let v = judge(&e, &f);
            assert!(!v.won, "{says}");
            assert!(
                v.reasons.iter().any(|r| r.contains(says)),
                "{says}: {:?}",
                v.reasons
            );
        }
    }

    #[test]
    fn a_self_healing_fault_wins_on_its_verified_heal_with_side_tickets_resolved() {
        let e = Fault::DropPolicies.expectation();
        let mut f = TrialFacts {
            healthy_before: true,
            opened: vec!["config_loaded".into()],
            ..TrialFacts::default()
        };
        let v = judge(&e, &f);
        assert!(v.won, "{:?}", v.reasons);
        assert!(!v.diagnosis_correct, "nothing to diagnose");
        f.inject_failed_checks = vec!["the policies are in Redis: still missing".into()];
        let v = judge(&e, &f);
        assert!(!v.won);
        assert!(
            v.reasons[0].starts_with("its heal was not verified"),
            "{v:?}"
        );
        f.inject_failed_checks.clear();
        f.opened.push("no_stuck_keys".into());
        f.opened.push("no_stuck_keys".into());
        let v = judge(&e, &f);
        assert_eq!(v.unexpected, vec!["no_stuck_keys".to_owned()]);
    }

    #[test]
    fn an_agent_that_was_asked_to_repair_and_did_not_loses_the_trial() {
        let e = Fault::StuckKeys(20).expectation();
        let mut f = TrialFacts {
            healthy_before: true,
            expected: Some("no_stuck_keys".into()),
            detected_ms: Some(300),
            diagnosis: Some(Some("keys_without_ttl".into())),
            resolved_ms: Some(900),
            opened: vec!["no_stuck_keys".into()],
            agent_repaired: Some(true),
            ..TrialFacts::default()
        };
        assert!(judge(&e, &f).won);
        f.agent_repaired = Some(false);
        f.agent_detail = Some("escalated: not allowed".into());
        let v = judge(&e, &f);
        assert!(!v.won);
        assert!(v.reasons[0].contains("escalated: not allowed"), "{v:?}");
    }
}
