//! Whether one violation holds in one observation: the question the agent asks when it verifies
//! a fix, and the "now" of a diagnosis context.
//!
//! [`assess`] answers it for an observation in hand, [`assess_failure`] for an observation that
//! failed, and [`observe_and_assess`] / [`observe_now`] take the observation first (bounded, see
//! [`observe_bounded`]).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::history::History;
use crate::invariant::{InvariantChecker, Violation, ViolationKey};
use crate::observe::{SUBJECT_UNREACHABLE, observe_bounded};
use crate::subject::Subject;
use crate::ticket::Ticket;

/// What an observation says about one violation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The checker reports it.
    Violated,
    /// The checker evaluated it and does not report it.
    Clear,
    /// The observation could not evaluate it (a source failed, or the whole observation did).
    Unknown,
}

impl Status {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Violated => "violated",
            Status::Clear => "clear",
            Status::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// The verdict on one violation, with everything the observation showed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assessment {
    /// The verdict.
    pub status: Status,
    /// The violation itself, when it is reported.
    pub violation: Option<Violation>,
    /// Every violation the observation showed (the one assessed included).
    pub violations: Vec<Violation>,
    /// Why the observation failed, when it did.
    pub error: Option<String>,
}

impl Assessment {
    /// One line for a human: the violation's message, or what the status means.
    pub fn describe(&self) -> String {
        match (&self.violation, &self.error) {
            (Some(v), _) => v.message.clone(),
            (None, Some(e)) => format!("cannot observe: {e}"),
            (None, None) => match self.status {
                Status::Clear => "the violation is no longer observed".to_owned(),
                _ => "not evaluated by this observation".to_owned(),
            },
        }
    }
}

/// What a fresh observation says about one violation, and when it was taken: the `now` of a
/// diagnosis [`Context`](crate::Context).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Now {
    /// When it was taken.
    pub at: DateTime<Utc>,
    /// Whether the violation still holds.
    pub status: Status,
    /// Every violation that observation showed.
    pub violations: Vec<Violation>,
    /// Why the observation failed, if it did.
    pub error: Option<String>,
}

impl Now {
    /// The verdict `assessment` of an observation taken `at`.
    pub fn new(at: DateTime<Utc>, assessment: &Assessment) -> Self {
        Self {
            at,
            status: assessment.status,
            violations: assessment.violations.clone(),
            error: assessment.error.clone(),
        }
    }
}

/// Checks `current` (with `history`, oldest first, not including `current`) for the violation
/// `key`.
pub fn assess<O, C: InvariantChecker<O>>(
    checker: &C,
    key: &ViolationKey,
    current: &O,
    history: &History<O>,
) -> Assessment {
    let violations = checker.check(current, history);
    if key.invariant == SUBJECT_UNREACHABLE {
        return Assessment {
            status: Status::Clear,
            violation: None,
            violations,
            error: None,
        };
    }
    let violation = violations.iter().find(|v| v.key() == *key).cloned();
    let status = if violation.is_some() {
        Status::Violated
    } else if checker
        .unknown(current, history)
        .iter()
        .any(|u| u.covers(key))
    {
        Status::Unknown
    } else {
        Status::Clear
    };
    Assessment {
        status,
        violation,
        violations,
        error: None,
    }
}

/// The verdict when the observation failed: [`SUBJECT_UNREACHABLE`] is violated, everything
/// else unknown.
pub fn assess_failure(key: &ViolationKey, error: impl Into<String>) -> Assessment {
    let error = error.into();
    let status = if key.invariant == SUBJECT_UNREACHABLE {
        Status::Violated
    } else {
        Status::Unknown
    };
    Assessment {
        status,
        violation: None,
        violations: Vec::new(),
        error: Some(error),
    }
}

/// Observes `subject` once (bounded by `timeout`) and assesses the violation `key`, returning when
/// the observation started and the verdict. A successful observation is judged with `history`
/// as its past, then pushed onto it.
pub async fn observe_and_assess<S, C>(
    subject: &S,
    checker: &C,
    key: &ViolationKey,
    history: &mut History<S::Observation>,
    timeout: Duration,
) -> (DateTime<Utc>, Assessment)
where
    S: Subject,
    C: InvariantChecker<S::Observation>,
{
    let at = Utc::now();
    let assessment = match observe_bounded(subject, timeout).await {
        Ok(observation) => {
            let a = assess(checker, key, &observation, history);
            history.push(at, Instant::now(), Arc::new(observation));
            a
        }
        Err(failure) => assess_failure(key, failure.to_string()),
    };
    (at, assessment)
}

/// Observes `subject` once and says what that shows about the violation `ticket` tracks: the
/// observation (as a one-entry history, empty when it failed) and the verdict, ready for
/// [`context::gather`](crate::context::gather).
pub async fn observe_now<S, C>(
    subject: &S,
    checker: &C,
    ticket: &Ticket,
    timeout: Duration,
) -> (History<S::Observation>, Now)
where
    S: Subject,
    C: InvariantChecker<S::Observation>,
{
    let mut recent = History::new(1);
    let (at, assessment) =
        observe_and_assess(subject, checker, &ticket.key(), &mut recent, timeout).await;
    (recent, Now::new(at, &assessment))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invariant::{InvariantSpec, Severity, Unknown};

    /// Reports the violations it is given; `None` entries mark `down` unknown.
    struct Fixed;

    impl InvariantChecker<Option<Vec<Violation>>> for Fixed {
        fn invariants(&self) -> Vec<InvariantSpec> {
            vec![InvariantSpec::new("down", "up")]
        }

        fn check(
            &self,
            current: &Option<Vec<Violation>>,
            _: &History<Option<Vec<Violation>>>,
        ) -> Vec<Violation> {
            current.clone().unwrap_or_default()
        }

        fn unknown(
            &self,
            current: &Option<Vec<Violation>>,
            _: &History<Option<Vec<Violation>>>,
        ) -> Vec<Unknown> {
            if current.is_none() {
                vec![Unknown::invariant("down")]
            } else {
                vec![]
            }
        }
    }

    #[test]
    fn violated_clear_unknown_and_failed() {
        let key = ViolationKey {
            invariant: "down".into(),
            entity: Some("a".into()),
        };
        let h = History::new(3);
        let v = Violation::new("down", Severity::Critical, "a is down").entity("a");
        let other = Violation::new("down", Severity::Critical, "b is down").entity("b");
        let a = assess(&Fixed, &key, &Some(vec![v.clone(), other.clone()]), &h);
        assert_eq!(
            (a.status, a.violation.as_ref()),
            (Status::Violated, Some(&v))
        );
        assert_eq!(a.describe(), "a is down");
        let a = assess(&Fixed, &key, &Some(vec![other]), &h);
        assert_eq!(a.status, Status::Clear);
        assert_eq!(assess(&Fixed, &key, &None, &h).status, Status::Unknown);
        let f = assess_failure(&key, "timed out");
        assert_eq!(f.status, Status::Unknown);
        assert_eq!(f.describe(), "cannot observe: timed out");
        let unreachable = ViolationKey {
            invariant: SUBJECT_UNREACHABLE.into(),
            entity: None,
        };
        assert_eq!(assess_failure(&unreachable, "x").status, Status::Violated);
        assert_eq!(
            assess(&Fixed, &unreachable, &Some(vec![]), &h).status,
            Status::Clear
        );
    }
}
