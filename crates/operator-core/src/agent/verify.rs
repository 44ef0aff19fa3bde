//! Observing for the agent: the verdict on one violation, and the verification of a fix.

use std::time::Duration;

use chrono::Utc;
use tokio::time::Instant;

use super::record::millis;
use super::{Agent, Verification};
use crate::assess::{Assessment, Status, observe_and_assess};
use crate::invariant::{InvariantChecker, ViolationKey};
use crate::subject::Subject;

/// Observes once, assesses the ticket's violation, and remembers the observation.
pub(super) async fn observe<S, C>(
    agent: &mut Agent<S>,
    subject: &S,
    checker: &C,
    key: &ViolationKey,
) -> (chrono::DateTime<Utc>, Assessment)
where
    S: Subject,
    C: InvariantChecker<S::Observation>,
{
    let timeout = agent.config.observe_timeout;
    observe_and_assess(subject, checker, key, &mut agent.history, timeout).await
}

/// Re-observes until the violation is clear `confirmations` times in a row, or `window` passes.
pub(super) async fn verify<S, C>(
    agent: &mut Agent<S>,
    subject: &S,
    checker: &C,
    key: &ViolationKey,
    acted_at: Instant,
    window: Duration,
) -> (Verification, (chrono::DateTime<Utc>, Assessment))
where
    S: Subject,
    C: InvariantChecker<S::Observation>,
{
    let start = Instant::now();
    let interval = agent.config.verify_interval;
    let needed = agent.config.confirmations;
    let mut streak = 0;
    let mut observations = 0;
    loop {
        let (at, a) = observe(agent, subject, checker, key).await;
        observations += 1;
        if a.status == Status::Clear {
            streak += 1;
        } else {
            streak = 0;
        }
        let done = streak >= needed;
        if done || start.elapsed() + interval > window {
            let v = Verification {
                clear: done,
                after_ms: millis(acted_at.elapsed()),
                observations,
                last_status: a.status,
                last: a.describe(),
            };
            return (v, (at, a));
        }
        tokio::time::sleep(interval).await;
    }
}
