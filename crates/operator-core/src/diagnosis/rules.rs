//! Diagnosis rules: what a subject knows about the causes of its own violations.
//!
//! A subject supplies [`Rule`]s through [`Diagnosable::rules`](crate::Diagnosable::rules). Each rule
//! names a probable cause of one or more invariants, says in words what in the evidence
//! distinguishes it, and carries a check: a function of the [`Context`] that returns a
//! [`Finding`] when the evidence fits (with a confidence, the facts it relied on, and the
//! declared actions that address the cause), or nothing.

use std::fmt;

use serde::Serialize;

use super::model::{Citation, Recommendation};
use crate::context::Context;

type Check = dyn Fn(&Context) -> Option<Finding> + Send + Sync;

/// A probable cause of some invariants' violations, and how to recognise it.
pub struct Rule {
    /// Stable short name, e.g. `disk_full`.
    pub name: String,
    /// The invariants it explains (empty: any).
    pub invariants: Vec<String>,
    /// The cause, as a root cause statement.
    pub cause: String,
    /// What in the evidence distinguishes it from the other causes.
    pub signature: String,
    check: Box<Check>,
}

impl Rule {
    /// A rule named `name` explaining `invariants`.
    pub fn new(
        name: impl Into<String>,
        invariants: &[&str],
        cause: impl Into<String>,
        signature: impl Into<String>,
        check: impl Fn(&Context) -> Option<Finding> + Send + Sync + 'static,
    ) -> Self {
        Self {
            name: name.into(),
            invariants: invariants.iter().map(|s| (*s).to_owned()).collect(),
            cause: cause.into(),
            signature: signature.into(),
            check: Box::new(check),
        }
    }

    /// Whether it may explain a violation of `invariant`.
    pub fn applies_to(&self, invariant: &str) -> bool {
        self.invariants.is_empty() || self.invariants.iter().any(|i| i == invariant)
    }

    /// Evaluates the rule on `context`.
    pub fn check(&self, context: &Context) -> Option<Finding> {
        (self.check)(context)
    }

    /// Its documentation, without the check.
    pub fn info(&self) -> RuleInfo {
        RuleInfo {
            name: self.name.clone(),
            invariants: self.invariants.clone(),
            cause: self.cause.clone(),
            signature: self.signature.clone(),
        }
    }
}

impl fmt::Debug for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rule")
            .field("name", &self.name)
            .field("invariants", &self.invariants)
            .finish_non_exhaustive()
    }
}

/// A rule's documentation, for `--help`-style listings and the docs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleInfo {
    /// Name.
    pub name: String,
    /// Invariants it explains.
    pub invariants: Vec<String>,
    /// The cause.
    pub cause: String,
    /// What distinguishes it.
    pub signature: String,
}

/// What a rule found in a context.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// How well the evidence fits, from 0 to 1.
    pub confidence: f64,
    /// The diagnosis in two or three sentences.
    pub summary: String,
    /// A more specific statement of the cause than the rule's, when the evidence gives one.
    pub cause: Option<String>,
    /// The facts relied on.
    pub evidence: Vec<Citation>,
    /// Declared actions that address the cause.
    pub actions: Vec<Recommendation>,
    /// Risks of acting or not.
    pub risks: Vec<String>,
}

impl Finding {
    /// A finding with this confidence and summary.
    pub fn new(confidence: f64, summary: impl Into<String>) -> Self {
        Self {
            confidence: confidence.clamp(0.0, 1.0),
            summary: summary.into(),
            cause: None,
            evidence: Vec::new(),
            actions: Vec::new(),
            risks: Vec::new(),
        }
    }

    /// States the cause more specifically than the rule does.
    #[must_use]
    pub fn cause(mut self, cause: impl Into<String>) -> Self {
        self.cause = Some(cause.into());
        self
    }

    /// Cites `detail` found at `source` in the context.
    #[must_use]
    pub fn cite(mut self, source: impl Into<String>, detail: impl Into<String>) -> Self {
        self.evidence.push(Citation::new(source, detail));
        self
    }

    /// Recommends a declared action.
    #[must_use]
    pub fn action(mut self, recommendation: Recommendation) -> Self {
        self.actions.push(recommendation);
        self
    }

    /// Adds a risk.
    #[must_use]
    pub fn risk(mut self, risk: impl Into<String>) -> Self {
        self.risks.push(risk.into());
        self
    }
}
