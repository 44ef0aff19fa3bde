//! What a fault or an undo reports: the [`Check`]s it made and the [`FaultReport`] of the step,
//! and how a report names a command to run.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::time::Instant;

use super::fault::Fault;
use crate::environment::Environment;
use crate::human;

/// One verification made by a fault or an undo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was verified.
    pub what: String,
    /// Whether it held.
    pub ok: bool,
    /// What was observed (with how long it took, when that matters).
    pub detail: String,
}

impl Check {
    pub(crate) fn new(what: impl Into<String>, ok: bool, detail: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            ok,
            detail: detail.into(),
        }
    }
}

/// What a fault or an undo did, how it is undone, and what was verified.
#[derive(Debug, Clone, Serialize)]
pub struct FaultReport {
    /// The fault, e.g. `kill-node 2`.
    pub fault: String,
    /// `inject` or `undo`.
    pub step: &'static str,
    /// What was done, one line each.
    pub did: Vec<String>,
    /// How it is undone (or that it undoes itself).
    pub undo: String,
    /// What was verified.
    pub checks: Vec<Check>,
    /// When the fault took effect (the signal sent, the command run).
    pub at: DateTime<Utc>,
    /// The same instant, monotonic, for measuring detection times.
    #[serde(skip)]
    pub instant: Instant,
    /// How long the whole step took, verifications included.
    pub elapsed_ms: u64,
    /// The `host:port` of the Redis instance the fault acted on, when it names one the monitor
    /// names its ticket by: a cluster fault's old primary (`failover_detected[<it>]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity: Option<String>,
}

impl FaultReport {
    pub(super) fn new(fault: &Fault, step: &'static str, undo: impl Into<String>) -> Self {
        Self {
            fault: fault.to_string(),
            step,
            did: Vec::new(),
            undo: undo.into(),
            checks: Vec::new(),
            at: Utc::now(),
            instant: Instant::now(),
            elapsed_ms: 0,
            entity: None,
        }
    }

    /// Marks now as the moment the fault took effect.
    pub(super) fn effective_now(&mut self) {
        self.at = Utc::now();
        self.instant = Instant::now();
    }

    /// Whether every verification held.
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }

    pub(super) fn finish(mut self, started: Instant) -> Self {
        self.elapsed_ms = human::millis(started.elapsed());
        self
    }
}

/// `operator chaos --subject ratelimit`, with `--env <kind>` off the local environment: how a
/// report names a command to run.
pub(crate) fn command(env: &dyn Environment) -> String {
    match env.kind() {
        "local" => "operator chaos --subject ratelimit".to_owned(),
        kind => format!("operator chaos --env {kind} --subject ratelimit"),
    }
}
