//! [`WithSubject`]: what a command does with a concrete subject and checker, and [`Profile`],
//! the subject's monitoring defaults it gets with them. The generic bounds every command is
//! written against are stated here, once.

use std::time::Duration;

use operator_core::{Diagnosable, InvariantChecker};

/// Per-subject defaults for the monitor loop.
#[derive(Debug, Clone, Copy)]
pub struct Profile {
    /// Default time between observations.
    pub interval: Duration,
    /// Default bound on one observation.
    pub observe_timeout: Duration,
}

/// Something to do with a concrete subject and checker: a command written once, generically,
/// and run with whichever subject `--subject` chose ([`SubjectArgs::visit`](super::SubjectArgs::visit)).
pub trait WithSubject {
    /// What it produces.
    type Output;

    /// Runs with `subject`, its `checker` and its monitoring defaults.
    async fn with<S, C>(self, subject: S, checker: C, profile: Profile) -> Self::Output
    where
        S: Diagnosable,
        C: InvariantChecker<S::Observation>;
}
