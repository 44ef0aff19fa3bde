//! The subjects this build can watch, and how their flags become a subject and its checker.
//!
//! Each subject module turns its flags into the subject crate's configuration and calls a
//! [`WithSubject`] visitor with the concrete subject and checker types, so every command
//! (`monitor`, and later ones) is written once, generically.

mod ratelimit;
mod tikv;

use std::time::Duration;

use clap::{Args, ValueEnum};
use operator_core::{Diagnosable, InvariantChecker};

use crate::exit::CliError;

/// Subject names accepted by `--subject`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SubjectName {
    /// The distributed rate limiter: Redis and its ratelimiter-node processes.
    Ratelimit,
    /// A TiKV cluster, through the PD and Prometheus HTTP APIs.
    Tikv,
}

/// Per-subject defaults for the monitor loop.
#[derive(Debug, Clone, Copy)]
pub struct Profile {
    /// Default time between observations.
    pub interval: Duration,
    /// Default bound on one observation.
    pub observe_timeout: Duration,
}

/// `--subject` and every subject's connection flags.
#[derive(Debug, Clone, Args)]
pub struct SubjectArgs {
    /// Which subject to act on.
    #[arg(long, short = 's', value_enum, env = "OPERATOR_SUBJECT")]
    pub subject: SubjectName,
    /// Connection to the rate limiter (with --subject ratelimit).
    #[command(flatten)]
    pub ratelimit: ratelimit::RateLimitArgs,
    /// Connection to TiKV (with --subject tikv).
    #[command(flatten)]
    pub tikv: tikv::TikvArgs,
}

/// Something to do with a concrete subject and checker.
pub trait WithSubject {
    /// What it produces.
    type Output;

    /// Does it.
    async fn with<S, C>(self, subject: S, checker: C, profile: Profile) -> Self::Output
    where
        S: Diagnosable,
        C: InvariantChecker<S::Observation>;
}

impl SubjectArgs {
    /// Builds the chosen subject from its flags and hands it to `visitor`.
    ///
    /// # Errors
    /// A usage error naming the bad flag when the subject's configuration is invalid.
    pub async fn visit<V: WithSubject>(&self, visitor: V) -> Result<V::Output, CliError> {
        match self.subject {
            SubjectName::Ratelimit => self.ratelimit.visit(visitor).await,
            SubjectName::Tikv => self.tikv.visit(visitor).await,
        }
    }
}
