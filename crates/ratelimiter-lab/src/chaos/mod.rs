//! Chaos on demand: faults injected into a running stack through an [`Environment`], each saying
//! what it did and how it is undone, and verifying what it claims.
//!
//! - A fault with a duration (`pause-redis`) undoes itself, and the undo is verified.
//! - A fault the stack repairs by itself (`restart-redis`, `restart-node`, `drop-policies`,
//!   `script-flush`) waits for that repair and verifies it.
//! - A fault that stays (`kill-redis`, `kill-node`, `stuck-keys`) verifies its effect and names
//!   its undo ([`undo`]), which is verified in turn.
//!
//! - A partition (`partition-node`, `partition-redis`) needs an environment with a network of
//!   its own (compose); it undoes itself after its duration, and the undo is verified.
//!
//! Layout: `fault` ([`Fault`], its catalog and parsing), `redis_faults`, `node_faults`,
//! `key_faults`, `partition_faults` (the faults, by what they act on), and `verify` (checks
//! shared by faults and undos).

mod fault;
mod key_faults;
mod node_faults;
mod partition_faults;
mod redis_faults;
mod verify;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::time::Instant;

use crate::environment::{Component, Environment};
use crate::error::Result;
use crate::human;

pub use fault::{Fault, FaultSpec};
pub use key_faults::STUCK_KEY_INFIX;

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
}

impl FaultReport {
    fn new(fault: &Fault, step: &'static str, undo: impl Into<String>) -> Self {
        Self {
            fault: fault.to_string(),
            step,
            did: Vec::new(),
            undo: undo.into(),
            checks: Vec::new(),
            at: Utc::now(),
            instant: Instant::now(),
            elapsed_ms: 0,
        }
    }

    /// Marks now as the moment the fault took effect.
    fn effective_now(&mut self) {
        self.at = Utc::now();
        self.instant = Instant::now();
    }

    /// Whether every verification held.
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }

    fn finish(mut self, started: Instant) -> Self {
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

/// How long verifications wait for the stack to repair itself.
const VERIFY_TIMEOUT: Duration = Duration::from_secs(15);

/// Injects `fault` into the stack of `env`, and verifies its effect (and, for faults that undo
/// themselves, the undo).
///
/// # Errors
/// When the fault cannot be carried out at all (a component to signal is not running, Redis
/// refuses the command). A verification that fails is reported in [`FaultReport::checks`].
pub async fn inject(env: &dyn Environment, fault: Fault) -> Result<FaultReport> {
    let started = Instant::now();
    let report = match fault {
        Fault::KillRedis => redis_faults::kill(env, &fault).await?,
        Fault::RestartRedis => redis_faults::restart(env, &fault).await?,
        Fault::PauseRedis(d) => redis_faults::pause(env, &fault, d).await?,
        Fault::DropPolicies => redis_faults::drop_policies(env, &fault).await?,
        Fault::ScriptFlush => redis_faults::script_flush(env, &fault).await?,
        Fault::KillNode(n) => node_faults::kill(env, &fault, n).await?,
        Fault::RestartNode(n) => node_faults::restart(env, &fault, n).await?,
        Fault::StuckKeys(n) => key_faults::stuck(env, &fault, n).await?,
        Fault::PartitionNode(n, d) => partition_faults::node(env, &fault, n, d).await?,
        Fault::PartitionRedis(d) => partition_faults::redis(env, &fault, d).await?,
    };
    Ok(report.finish(started))
}

/// Undoes `fault` and verifies that the stack is whole again: starts what `kill-*` killed,
/// deletes what `stuck-keys` wrote, resumes a Redis left frozen by an interrupted `pause-redis`,
/// reconnects what an interrupted partition left out. For faults that undo themselves, only
/// verifies.
///
/// # Errors
/// As [`inject`].
pub async fn undo(env: &dyn Environment, fault: Fault) -> Result<FaultReport> {
    let started = Instant::now();
    let report = match fault {
        Fault::KillRedis => redis_faults::undo_kill(env, &fault).await?,
        Fault::KillNode(n) => node_faults::undo_kill(env, &fault, n).await?,
        Fault::StuckKeys(_) => key_faults::undo_stuck(env, &fault).await?,
        Fault::PauseRedis(_) => redis_faults::undo_pause(env, &fault).await?,
        Fault::PartitionNode(n, _) => {
            partition_faults::undo(env, &fault, Component::Node(n)).await?
        }
        Fault::PartitionRedis(_) => partition_faults::undo(env, &fault, Component::Redis).await?,
        _ => {
            let mut r = FaultReport::new(&fault, "undo", "nothing to undo: it undoes itself");
            r.did.push(format!(
                "nothing to do: {fault} undoes itself; verifying the stack"
            ));
            r.checks = verify::whole(env).await;
            r
        }
    };
    Ok(report.finish(started))
}
