//! One bounded observation: [`observe_bounded`] observes a subject under a timeout and turns what
//! went wrong into an [`ObserveFailure`], the same way for the monitor, the agent and diagnosis.
//!
//! A subject that cannot be observed at all is itself a violation, [`SUBJECT_UNREACHABLE`]; the
//! failure carries its text (the error with its causes, or how long the observation waited) and
//! the evidence of that violation.

use std::time::Duration;

use serde_json::{Value, json};
use tracing::Instrument;

use crate::error::error_chain;
use crate::invariant::{Severity, Violation};
use crate::subject::Subject;

/// Name of the violation reported when the subject cannot be observed at all.
pub const SUBJECT_UNREACHABLE: &str = "subject_unreachable";

/// Why an observation gave nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObserveFailure {
    /// [`Subject::observe`] failed.
    #[error("{chain}")]
    Failed {
        /// The error followed by its causes, each once (`error: cause: cause`).
        chain: String,
    },
    /// [`Subject::observe`] did not answer in time.
    #[error("observation timed out after {} ms", .after.as_millis())]
    TimedOut {
        /// The timeout.
        after: Duration,
    },
}

impl ObserveFailure {
    /// The evidence of the [`SUBJECT_UNREACHABLE`] violation: `{"error": text}`, plus
    /// `timeout_ms` for a timeout.
    pub fn evidence(&self) -> Value {
        match self {
            ObserveFailure::Failed { .. } => json!({ "error": self.to_string() }),
            ObserveFailure::TimedOut { after } => {
                json!({ "error": self.to_string(), "timeout_ms": after.as_millis() })
            }
        }
    }

    /// The [`SUBJECT_UNREACHABLE`] violation this failure means for the subject named `subject`.
    pub fn violation(&self, subject: &str) -> Violation {
        Violation::new(
            SUBJECT_UNREACHABLE,
            Severity::Critical,
            format!("cannot observe {subject}: {self}"),
        )
        .evidence(self.evidence())
    }
}

/// Observes `subject` once, giving up after `timeout`, inside an `observe` span naming the
/// subject.
///
/// # Errors
/// [`ObserveFailure::Failed`] with the error chain when the subject's observation fails,
/// [`ObserveFailure::TimedOut`] when it takes longer than `timeout`.
pub async fn observe_bounded<S: Subject>(
    subject: &S,
    timeout: Duration,
) -> Result<S::Observation, ObserveFailure> {
    let span = tracing::info_span!("observe", subject = subject.name());
    match tokio::time::timeout(timeout, subject.observe())
        .instrument(span)
        .await
    {
        Ok(Ok(observation)) => Ok(observation),
        Ok(Err(e)) => Err(ObserveFailure::Failed {
            chain: error_chain(&e),
        }),
        Err(_) => Err(ObserveFailure::TimedOut { after: timeout }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_say_what_happened_and_make_the_unreachable_violation() {
        let failed = ObserveFailure::Failed {
            chain: "cannot connect: refused".into(),
        };
        let v = failed.violation("x");
        assert_eq!(v.invariant, SUBJECT_UNREACHABLE);
        assert_eq!(v.severity, Severity::Critical);
        assert_eq!(v.message, "cannot observe x: cannot connect: refused");
        assert_eq!(v.evidence, json!({ "error": "cannot connect: refused" }));

        let timed_out = ObserveFailure::TimedOut {
            after: Duration::from_millis(1500),
        };
        assert_eq!(timed_out.to_string(), "observation timed out after 1500 ms");
        assert_eq!(
            timed_out.evidence(),
            json!({ "error": "observation timed out after 1500 ms", "timeout_ms": 1500 })
        );
    }
}
