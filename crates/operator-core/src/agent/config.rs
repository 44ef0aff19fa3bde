//! What the agent may do, and its caps.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::action::ActionSpec;
use crate::context::ContextConfig;
use crate::ticket::Mode;

/// The agent's configuration. Build with [`Default`] and the `#[must_use]` setters, then
/// [`validate`](Self::validate) against the subject's catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentConfig {
    /// How far it goes. Default: [`Mode::Propose`] (it never changes anything unless told to
    /// execute).
    pub mode: Mode,
    /// Actions it may run in [`Mode::Execute`]. Default: none (every recommendation is then
    /// escalated): allowing is explicit, action by action.
    pub allow: BTreeSet<String>,
    /// Actions run per ticket, at most.
    pub max_steps: u64,
    /// Model tokens spent per ticket, at most (the context sent is trimmed to fit).
    pub max_tokens: u64,
    /// Wall time spent per ticket, at most, verification included.
    pub max_time: Duration,
    /// How long to wait for the violation to clear after acting.
    pub verify_timeout: Duration,
    /// Time between verification observations.
    pub verify_interval: Duration,
    /// Consecutive clear observations that make a fix verified.
    pub confirmations: usize,
    /// Bound on each observation.
    pub observe_timeout: Duration,
    /// What the context holds.
    pub context: ContextConfig,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            mode: Mode::Propose,
            allow: BTreeSet::new(),
            max_steps: 3,
            max_tokens: 60_000,
            max_time: Duration::from_secs(60),
            verify_timeout: Duration::from_secs(20),
            verify_interval: Duration::from_millis(500),
            confirmations: 2,
            observe_timeout: Duration::from_secs(3),
            context: ContextConfig::default(),
        }
    }
}

impl AgentConfig {
    /// Sets the mode.
    #[must_use]
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Allows an action in execute mode.
    #[must_use]
    pub fn allow(mut self, action: impl Into<String>) -> Self {
        self.allow.insert(action.into());
        self
    }

    /// Sets the step cap.
    #[must_use]
    pub fn max_steps(mut self, steps: u64) -> Self {
        self.max_steps = steps;
        self
    }

    /// Sets the token cap.
    #[must_use]
    pub fn max_tokens(mut self, tokens: u64) -> Self {
        self.max_tokens = tokens;
        self
    }

    /// Sets the wall-time cap.
    #[must_use]
    pub fn max_time(mut self, time: Duration) -> Self {
        self.max_time = time;
        self
    }

    /// Sets the verification timeout.
    #[must_use]
    pub fn verify_timeout(mut self, timeout: Duration) -> Self {
        self.verify_timeout = timeout;
        self
    }

    /// Sets the time between verification observations.
    #[must_use]
    pub fn verify_interval(mut self, interval: Duration) -> Self {
        self.verify_interval = interval;
        self
    }

    /// Sets the observation timeout.
    #[must_use]
    pub fn observe_timeout(mut self, timeout: Duration) -> Self {
        self.observe_timeout = timeout;
        self
    }

    /// Checks the settings against the subject's `catalog`.
    ///
    /// # Errors
    /// A message naming the bad setting (an allowed action the subject does not declare, a zero
    /// duration or cap).
    pub fn validate(&self, catalog: &[ActionSpec]) -> Result<(), String> {
        for name in &self.allow {
            if !catalog.iter().any(|a| &a.name == name) {
                let known: Vec<&str> = catalog.iter().map(|a| a.name.as_str()).collect();
                return Err(format!(
                    "allow: {name:?} is not an action of this subject (declared: {})",
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ));
            }
        }
        for (name, d) in [
            ("max time", self.max_time),
            ("verify timeout", self.verify_timeout),
            ("verify interval", self.verify_interval),
            ("observe timeout", self.observe_timeout),
        ] {
            if d.is_zero() {
                return Err(format!("{name} must be greater than zero"));
            }
        }
        if self.confirmations == 0 {
            return Err("confirmations must be at least 1".into());
        }
        Ok(())
    }
}
