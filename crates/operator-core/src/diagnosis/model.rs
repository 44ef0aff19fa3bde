//! The structured result of a diagnosis, and what a diagnoser reports besides it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::action::Action;

/// What a diagnoser concluded about one ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diagnosis {
    /// Two or three sentences: what is wrong and what to do.
    pub summary: String,
    /// The most probable root cause.
    pub root_cause: String,
    /// How sure, from 0 (a guess) to 1 (certain).
    pub confidence: f64,
    /// Facts from the context that support the root cause.
    pub evidence: Vec<Citation>,
    /// Other causes considered, and why they were rejected.
    pub alternatives: Vec<Alternative>,
    /// Declared actions to take, in order. Empty when no declared action fixes the cause.
    pub actions: Vec<Recommendation>,
    /// What could go wrong by acting (or by not acting).
    pub risks: Vec<String>,
}

/// One fact cited from the context document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Citation {
    /// Where in the context it is, as a dotted path (e.g. `ticket.evidence.error`).
    pub source: String,
    /// The fact, in words or as the value found there.
    pub detail: String,
}

impl Citation {
    /// A citation of `detail` at `source`.
    pub fn new(source: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            source: source.into(),
            detail: detail.into(),
        }
    }
}

/// A cause considered and rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alternative {
    /// The cause.
    pub cause: String,
    /// Why it is not the root cause.
    pub rejected_because: String,
}

/// A declared action to run, in its wire form plus the reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    /// The action's name, as in the subject's catalog.
    pub action: String,
    /// Its arguments (an object; `{}` for none).
    #[serde(default = "empty_object")]
    pub args: Value,
    /// Why it helps.
    pub reason: String,
}

fn empty_object() -> Value {
    json!({})
}

impl Recommendation {
    /// Recommends a typed action.
    pub fn typed<A: Action>(action: &A, reason: impl Into<String>) -> Self {
        let wire = serde_json::to_value(action).unwrap_or(Value::Null);
        Self {
            action: action.name().to_owned(),
            args: wire.get("args").cloned().unwrap_or_else(empty_object),
            reason: reason.into(),
        }
    }

    /// `{"action": name, "args": {...}}`, the form every [`Action`] deserializes from.
    pub fn wire(&self) -> Value {
        json!({ "action": self.action, "args": self.args })
    }

    /// The typed action.
    ///
    /// # Errors
    /// When the subject declares no such action or the arguments do not fit it.
    pub fn parse<A: Action>(&self) -> Result<A, serde_json::Error> {
        serde_json::from_value(self.wire())
    }
}

/// Tokens a model consumed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
}

impl Usage {
    /// Both together.
    pub fn total(self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }

    /// Adds `other`.
    pub fn add(&mut self, other: Usage) {
        self.input_tokens = self.input_tokens.saturating_add(other.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(other.output_tokens);
    }
}

/// One request to a model and its answer, kept for the audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exchange {
    /// Who answered (`anthropic`, `openai`).
    pub provider: String,
    /// The model asked.
    pub model: String,
    /// When the request was sent.
    pub at: DateTime<Utc>,
    /// 1 for the first attempt, 2 for the first retry...
    pub attempt: u32,
    /// HTTP status, when a response arrived.
    pub status: Option<u16>,
    /// Time to the answer (or the failure), in ms.
    pub duration_ms: u64,
    /// The request body sent (secrets are never in it: the context is redacted and keys travel
    /// in headers).
    pub request: String,
    /// The response body, or what went wrong.
    pub response: String,
}

/// A diagnosis with its provenance: who produced it, from what, at what cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiagnosisReport {
    /// The ticket diagnosed.
    pub ticket: i64,
    /// When the diagnosis finished.
    pub at: DateTime<Utc>,
    /// Who produced it (`offline`, `anthropic/<model>`, `openai/<model>`).
    pub diagnoser: String,
    /// For an offline diagnosis, the rule that matched (none when no rule did).
    pub rule: Option<String>,
    /// Set when a model was asked but its diagnosis could not be used, so this is the offline
    /// one: why.
    pub fallback: Option<String>,
    /// Tokens consumed by model calls (zero offline).
    pub usage: Usage,
    /// The diagnosis.
    pub diagnosis: Diagnosis,
    /// Model requests and answers, for the audit trail (not part of the report's JSON output).
    #[serde(skip)]
    pub exchanges: Vec<Exchange>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::ActionSpec;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(tag = "action", content = "args", rename_all = "snake_case")]
    enum Fix {
        Restart { unit: String },
        Flush {},
    }

    impl Action for Fix {
        fn catalog() -> Vec<ActionSpec> {
            vec![]
        }
        fn name(&self) -> &'static str {
            match self {
                Fix::Restart { .. } => "restart",
                Fix::Flush {} => "flush",
            }
        }
    }

    #[test]
    fn recommendations_round_trip_typed_actions() {
        let r = Recommendation::typed(&Fix::Restart { unit: "a".into() }, "it hangs");
        assert_eq!(r.action, "restart");
        assert_eq!(r.args, json!({"unit": "a"}));
        assert_eq!(r.parse::<Fix>().unwrap(), Fix::Restart { unit: "a".into() });
        let r = Recommendation::typed(&Fix::Flush {}, "full");
        assert_eq!(r.wire(), json!({"action": "flush", "args": {}}));
        let bad: Recommendation =
            serde_json::from_value(json!({"action": "rm", "reason": "x"})).unwrap();
        assert_eq!(bad.args, json!({}));
        assert!(bad.parse::<Fix>().is_err());
    }
}
