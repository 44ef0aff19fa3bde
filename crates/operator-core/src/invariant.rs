//! Invariants: what must hold of a subject, and the violations reported when it does not.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::history::History;

/// How bad a violation is. Ordered: `Info < Warning < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing, no action needed.
    Info,
    /// Degraded; act soon.
    Warning,
    /// Broken; act now.
    Critical,
}

impl Severity {
    /// The lowercase name, as stored and printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Error parsing a [`Severity`].
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown severity {0:?} (expected critical, warning or info)")]
pub struct ParseSeverityError(String);

impl FromStr for Severity {
    type Err = ParseSeverityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "info" => Ok(Severity::Info),
            "warning" => Ok(Severity::Warning),
            "critical" => Ok(Severity::Critical),
            other => Err(ParseSeverityError(other.to_owned())),
        }
    }
}

/// One invariant found not to hold, about one entity of the subject (or the subject as a whole).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Violation {
    /// Name of the invariant, e.g. `node_down`.
    pub invariant: String,
    /// The part of the subject concerned (a node id, a key, a member), or `None` for the whole.
    pub entity: Option<String>,
    /// How bad it is.
    pub severity: Severity,
    /// One line for a human.
    pub message: String,
    /// The observed facts that show it, as JSON.
    pub evidence: serde_json::Value,
}

impl Violation {
    /// A violation of `invariant` about the whole subject, with no evidence yet.
    pub fn new(
        invariant: impl Into<String>,
        severity: Severity,
        message: impl Into<String>,
    ) -> Self {
        Self {
            invariant: invariant.into(),
            entity: None,
            severity,
            message: message.into(),
            evidence: serde_json::Value::Null,
        }
    }

    /// Names the entity concerned.
    #[must_use]
    pub fn entity(mut self, entity: impl Into<String>) -> Self {
        self.entity = Some(entity.into());
        self
    }

    /// Attaches evidence.
    #[must_use]
    pub fn evidence(mut self, evidence: serde_json::Value) -> Self {
        self.evidence = evidence;
        self
    }

    /// The identity of this violation: one alert and one open ticket exist per key.
    pub fn key(&self) -> ViolationKey {
        ViolationKey {
            invariant: self.invariant.clone(),
            entity: self.entity.clone(),
        }
    }
}

/// The identity of a violation: invariant name and entity.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ViolationKey {
    /// Invariant name.
    pub invariant: String,
    /// Entity, if any.
    pub entity: Option<String>,
}

impl fmt::Display for ViolationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.entity {
            Some(e) => write!(f, "{}[{}]", self.invariant, e),
            None => f.write_str(&self.invariant),
        }
    }
}

/// Documentation and timing of one invariant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvariantSpec {
    /// Name, as in [`Violation::invariant`].
    pub name: String,
    /// What must hold, and what a violation means, for humans and diagnosis.
    pub description: String,
    /// How long a violation must persist before it fires (Prometheus `for:`).
    #[serde(with = "duration_ms")]
    pub pending: Duration,
    /// How long a fired violation keeps firing after it clears (Prometheus `keep_firing_for`).
    #[serde(with = "duration_ms")]
    pub keep_firing: Duration,
}

impl InvariantSpec {
    /// An invariant that fires and resolves immediately.
    pub fn new(name: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            description: description.into(),
            pending: Duration::ZERO,
            keep_firing: Duration::ZERO,
        }
    }

    /// Sets the pending period.
    #[must_use]
    pub fn pending(mut self, pending: Duration) -> Self {
        self.pending = pending;
        self
    }

    /// Sets the keep-firing period.
    #[must_use]
    pub fn keep_firing(mut self, keep_firing: Duration) -> Self {
        self.keep_firing = keep_firing;
        self
    }
}

/// Checks a subject's invariants over its observations.
///
/// Implementations are pure and synchronous: all I/O happens in
/// [`Subject::observe`](crate::Subject::observe), so every check is a unit test over hand-written
/// observations. Timing (pending and keep-firing periods) is the loop's business, not the
/// checker's: a checker reports what is wrong *now*, using `history` only when the invariant is
/// about change over time (a counter that should not decrease, a rate).
pub trait InvariantChecker<O>: Send + Sync + 'static {
    /// The invariants this checker reports, with their default timing.
    fn invariants(&self) -> Vec<InvariantSpec>;

    /// Returns every violation in `current`; `history` holds earlier observations, oldest first,
    /// not including `current`.
    fn check(&self, current: &O, history: &History<O>) -> Vec<Violation>;

    /// What `current` says nothing about: the alerts in these scopes are left as they are (neither
    /// fired nor cleared), as for a failed observation. Use it when one source of an observation
    /// failed, so that a violation that could not be seen is never taken as cleared.
    ///
    /// The default is that every invariant was evaluated.
    fn unknown(&self, current: &O, history: &History<O>) -> Vec<Unknown> {
        let _ = (current, history);
        Vec::new()
    }
}

/// A part of the invariants that an observation could not evaluate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unknown {
    /// The invariant.
    pub invariant: String,
    /// The entity, or `None` for every entity of the invariant.
    pub entity: Option<String>,
}

impl Unknown {
    /// Every entity of `invariant`.
    pub fn invariant(invariant: impl Into<String>) -> Self {
        Self {
            invariant: invariant.into(),
            entity: None,
        }
    }

    /// One entity of `invariant`.
    pub fn entity(invariant: impl Into<String>, entity: impl Into<String>) -> Self {
        Self {
            invariant: invariant.into(),
            entity: Some(entity.into()),
        }
    }

    /// Whether the violation `key` falls in this scope.
    pub fn covers(&self, key: &ViolationKey) -> bool {
        self.invariant == key.invariant && (self.entity.is_none() || self.entity == key.entity)
    }
}

/// Serde helper for durations as integer milliseconds: `#[serde(with = "duration_ms")]`.
pub mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `d` as whole milliseconds.
    ///
    /// # Errors
    /// The serializer's.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    /// Reads whole milliseconds.
    ///
    /// # Errors
    /// When the value is not an unsigned integer.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_orders_and_round_trips() {
        assert!(Severity::Info < Severity::Warning && Severity::Warning < Severity::Critical);
        for s in [Severity::Info, Severity::Warning, Severity::Critical] {
            assert_eq!(s.as_str().parse::<Severity>().unwrap(), s);
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::json!(s.as_str())
            );
        }
        assert!("fatal".parse::<Severity>().is_err());
    }

    #[test]
    fn violation_key_displays_entity() {
        let v = Violation::new("down", Severity::Critical, "x").entity("n1");
        assert_eq!(v.key().to_string(), "down[n1]");
        assert_eq!(
            Violation::new("down", Severity::Info, "x")
                .key()
                .to_string(),
            "down"
        );
    }
}
