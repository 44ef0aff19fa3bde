//! [`Diagnosable`]: what a subject adds to its diagnoses, as an extension of [`Subject`].
//!
//! The basic [`Subject`] only observes, describes itself and executes actions. What diagnosis
//! needs from a subject besides (extra material about an incident, and its knowledge of the
//! causes of its violations) is asked through this trait, so the subject trait depends on nothing
//! above it. Both hooks have defaults: `impl Diagnosable for MySubject {}` opts in with neither.

use std::future::Future;

use super::rules::Rule;
use crate::context::ContextSection;
use crate::subject::Subject;
use crate::ticket::Ticket;

/// A subject that can be diagnosed: [`context::gather`](crate::context::gather) and the
/// [`Agent`](crate::Agent) ask it for the extra context of a ticket and for its rules.
pub trait Diagnosable: Subject {
    /// Extra material for the diagnosis context of `ticket` (logs, server statistics, anything
    /// the observation does not carry), given the freshest observation when there is one.
    ///
    /// Gathering it may do I/O; a source that fails should say so in its section rather than be
    /// left out. Secrets are redacted from the result by the caller. The default supplies
    /// nothing.
    fn context(
        &self,
        ticket: &Ticket,
        latest: Option<&Self::Observation>,
    ) -> impl Future<Output = Vec<ContextSection>> + Send {
        let _ = (ticket, latest);
        std::future::ready(Vec::new())
    }

    /// What the subject knows about the causes of its violations, for the
    /// [`OfflineDiagnoser`](crate::diagnosis::OfflineDiagnoser). The default knows nothing.
    fn rules(&self) -> Vec<Rule> {
        Vec::new()
    }
}
