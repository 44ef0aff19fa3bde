//! The [`Subject`] trait: a system the operator watches.

use std::future::Future;

use serde::Serialize;

use crate::action::{Action, ActionReport};

/// A distributed system under watch.
///
/// A subject knows how to observe itself (all network I/O happens in [`Subject::observe`]), how to
/// describe itself to a human or a model, and which typed remediation actions it offers. What to
/// conclude from an observation belongs to an [`InvariantChecker`](crate::InvariantChecker).
///
/// What diagnosis needs besides (extra context about an incident, the subject's rules) is the
/// extension trait [`Diagnosable`](crate::Diagnosable).
pub trait Subject: Send + Sync + 'static {
    /// A snapshot of the subject's state. Serialized into tickets and diagnosis context.
    type Observation: Serialize + Send + Sync + 'static;
    /// The remediation actions this subject declares ([`NoAction`](crate::NoAction) for none).
    type Action: Action;
    /// Why an observation or an action failed.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Short stable name, used as the `subject` of tickets (e.g. in `--subject NAME`).
    fn name(&self) -> &str;

    /// A few sentences describing the subject and its topology, used as diagnosis context.
    fn description(&self) -> String;

    /// Observes the subject once.
    ///
    /// Partial failures (one component of the subject unreachable) belong in the observation;
    /// an error here means the subject as a whole could not be observed, which the monitor reports
    /// as `subject_unreachable`.
    ///
    /// # Errors
    /// When nothing meaningful could be observed.
    fn observe(&self) -> impl Future<Output = Result<Self::Observation, Self::Error>> + Send;

    /// Executes a remediation action and reports what it changed.
    ///
    /// # Errors
    /// When the action could not be carried out. A subject whose action type is
    /// [`NoAction`](crate::NoAction) implements this with `match *action {}`.
    fn execute(
        &self,
        action: &Self::Action,
    ) -> impl Future<Output = Result<ActionReport, Self::Error>> + Send;
}
