//! [`OfflineDiagnoser`]: a diagnosis from the subject's rules, with no model and no network.

use async_trait::async_trait;
use chrono::Utc;

use super::diagnoser::{DiagnoseError, Diagnoser};
use super::model::{Alternative, Citation, Diagnosis, DiagnosisReport, Usage};
use super::rules::{Finding, Rule};
use crate::context::Context;

/// Diagnoses by evaluating the subject's [`Rule`]s for the ticket's invariant: the best-fitting
/// rule is the root cause, the others are the alternatives (with why they lost or did not fit).
#[derive(Debug, Default)]
pub struct OfflineDiagnoser {
    rules: Vec<Rule>,
}

impl OfflineDiagnoser {
    /// A diagnoser using `rules`.
    pub fn new(rules: Vec<Rule>) -> Self {
        Self { rules }
    }

    /// Its rules.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The diagnosis of `context`: never fails, at worst says nothing explains the violation.
    pub fn diagnose_now(&self, context: &Context) -> DiagnosisReport {
        let t = &context.ticket;
        let applicable: Vec<&Rule> = self
            .rules
            .iter()
            .filter(|r| r.applies_to(&t.invariant))
            .collect();
        let mut findings: Vec<(&Rule, Finding)> = applicable
            .iter()
            .filter_map(|r| r.check(context).map(|f| (*r, f)))
            .collect();
        // Highest confidence first; among equals, the rule declared first.
        findings.sort_by(|a, b| b.1.confidence.total_cmp(&a.1.confidence));
        let declared: Vec<&str> = context.actions.iter().map(|a| a.name.as_str()).collect();
        let message = Citation::new("ticket.message", t.message.clone());

        let Some((best, finding)) = findings.first() else {
            return report(context, None, undetermined(context, &applicable, message));
        };

        let mut evidence = vec![message];
        evidence.extend(finding.evidence.iter().cloned());
        let mut alternatives: Vec<Alternative> = findings[1..]
            .iter()
            .map(|(r, f)| Alternative {
                cause: f.cause.clone().unwrap_or_else(|| r.cause.clone()),
                rejected_because: format!(
                    "it fits less well (confidence {:.2} against {:.2}): {}",
                    f.confidence, finding.confidence, f.summary
                ),
            })
            .collect();
        alternatives.extend(
            applicable
                .iter()
                .filter(|r| !findings.iter().any(|(m, _)| m.name == r.name))
                .map(|r| absent(r)),
        );
        let actions = finding
            .actions
            .iter()
            .filter(|a| {
                let ok = declared.contains(&a.action.as_str());
                if !ok {
                    tracing::warn!(rule = %best.name, action = %a.action, "rule recommends an undeclared action; dropped");
                }
                ok
            })
            .cloned()
            .collect();
        let diagnosis = Diagnosis {
            summary: finding.summary.clone(),
            root_cause: finding.cause.clone().unwrap_or_else(|| best.cause.clone()),
            confidence: finding.confidence,
            evidence,
            alternatives,
            actions,
            risks: finding.risks.clone(),
        };
        report(context, Some(best.name.clone()), diagnosis)
    }
}

/// The offline report of `diagnosis`, found by `rule` (none: no rule fits).
fn report(context: &Context, rule: Option<String>, diagnosis: Diagnosis) -> DiagnosisReport {
    DiagnosisReport {
        ticket: context.ticket.id,
        at: Utc::now(),
        diagnoser: "offline".to_owned(),
        rule,
        fallback: None,
        usage: Usage::default(),
        diagnosis,
        exchanges: Vec::new(),
    }
}

/// The diagnosis when no rule fits: a human should look; nothing to do.
fn undetermined(context: &Context, applicable: &[&Rule], message: Citation) -> Diagnosis {
    let t = &context.ticket;
    Diagnosis {
        summary: format!(
            "No known cause of {} fits the evidence; a human should look at the context. {}",
            t.invariant, t.message
        ),
        root_cause: format!("undetermined: no rule of {} explains it", t.subject),
        confidence: 0.1,
        evidence: vec![message],
        alternatives: applicable.iter().map(|r| absent(r)).collect(),
        actions: Vec::new(),
        risks: vec![
            "acting without a diagnosis may hide the cause; gather more evidence first".to_owned(),
        ],
    }
}

/// `rule` as an alternative rejected because its signature is not in the evidence.
fn absent(rule: &Rule) -> Alternative {
    Alternative {
        cause: rule.cause.clone(),
        rejected_because: format!("its signature is absent: {}", rule.signature),
    }
}

#[async_trait]
impl Diagnoser for OfflineDiagnoser {
    fn name(&self) -> String {
        "offline".to_owned()
    }

    async fn diagnose(&self, context: &Context) -> Result<DiagnosisReport, DiagnoseError> {
        Ok(self.diagnose_now(context))
    }
}
