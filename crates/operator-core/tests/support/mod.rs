//! A scripted subject for loop tests: each observation returns whatever the test last set.

#![allow(dead_code)] // each test file uses a different part of the support module

use std::sync::{Arc, Mutex};
use std::time::Duration;

use operator_core::monitor::RunSummary;
use operator_core::{
    ActionReport, History, InvariantChecker, InvariantSpec, MonitorConfig, MonitorLoop, NoAction,
    Severity, Subject, TicketStore, Unknown, Violation,
};
use tokio::time::Instant;

/// What the next observations return.
#[derive(Debug, Clone)]
pub enum Step {
    /// Succeed, showing these violations, after `delay`.
    Ok {
        violations: Vec<Violation>,
        delay: Duration,
    },
    /// Fail with this message.
    Fail(String),
    /// Never answer (until the loop's timeout).
    Hang,
}

/// Observation failure of the scripted subject.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ScriptError(String);

/// A subject whose observations the test scripts.
#[derive(Clone)]
pub struct Script {
    step: Arc<Mutex<Step>>,
    /// When each observation started.
    pub calls: Arc<Mutex<Vec<Instant>>>,
}

impl Script {
    pub fn new() -> Self {
        Self {
            step: Arc::new(Mutex::new(Step::Ok {
                violations: vec![],
                delay: Duration::ZERO,
            })),
            calls: Arc::default(),
        }
    }

    pub fn set(&self, step: Step) {
        *self.step.lock().unwrap() = step;
    }

    /// Healthy from now on.
    pub fn clear(&self) {
        self.show(vec![]);
    }

    /// These violations from now on.
    pub fn show(&self, violations: Vec<Violation>) {
        self.set(Step::Ok {
            violations,
            delay: Duration::ZERO,
        });
    }
}

impl Subject for Script {
    type Observation = Vec<Violation>;
    type Action = NoAction;
    type Error = ScriptError;

    fn name(&self) -> &str {
        "scripted"
    }

    fn description(&self) -> String {
        "a subject whose observations are scripted by the test".into()
    }

    async fn observe(&self) -> Result<Vec<Violation>, ScriptError> {
        self.calls.lock().unwrap().push(Instant::now());
        let step = self.step.lock().unwrap().clone();
        match step {
            Step::Ok { violations, delay } => {
                tokio::time::sleep(delay).await;
                Ok(violations)
            }
            Step::Fail(msg) => Err(ScriptError(msg)),
            Step::Hang => std::future::pending().await,
        }
    }

    async fn execute(&self, action: &NoAction) -> Result<ActionReport, ScriptError> {
        match *action {}
    }
}

/// Reports exactly what the scripted observation shows; a violation whose message is `unknown`
/// is reported as not evaluated instead.
pub struct PassThrough(pub Vec<InvariantSpec>);

impl InvariantChecker<Vec<Violation>> for PassThrough {
    fn invariants(&self) -> Vec<InvariantSpec> {
        self.0.clone()
    }

    fn check(&self, current: &Vec<Violation>, _: &History<Vec<Violation>>) -> Vec<Violation> {
        current
            .iter()
            .filter(|v| v.message != "unknown")
            .cloned()
            .collect()
    }

    fn unknown(&self, current: &Vec<Violation>, _: &History<Vec<Violation>>) -> Vec<Unknown> {
        current
            .iter()
            .filter(|v| v.message == "unknown")
            .map(|v| Unknown {
                invariant: v.invariant.clone(),
                entity: v.entity.clone(),
            })
            .collect()
    }
}

/// Marks `invariant` (all entities) as not evaluated by this observation.
pub fn unknown(invariant: &str) -> Violation {
    Violation::new(invariant, Severity::Info, "unknown")
}

pub fn warn(invariant: &str) -> Violation {
    Violation::new(
        invariant,
        Severity::Warning,
        format!("{invariant} is broken"),
    )
}

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// A monitor of a fresh script with one invariant `x` of the given timing, on a fresh database.
pub struct Harness {
    pub script: Script,
    pub monitor: MonitorLoop<Script, PassThrough>,
    pub store: Arc<TicketStore>,
    pub dir: tempfile::TempDir,
}

impl Harness {
    pub fn new(specs: Vec<InvariantSpec>, config: MonitorConfig) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(TicketStore::open(dir.path().join("tickets.db")).unwrap());
        let script = Script::new();
        let monitor = MonitorLoop::new(
            script.clone(),
            PassThrough(specs),
            Arc::clone(&store),
            config,
        )
        .unwrap();
        Self {
            script,
            monitor,
            store,
            dir,
        }
    }

    /// One tick, then one interval of (paused) time.
    pub async fn step(&mut self) -> operator_core::TickReport {
        let report = self.monitor.tick().await.unwrap();
        tokio::time::advance(secs(1)).await;
        report
    }

    pub fn all_tickets(&self) -> Vec<operator_core::Ticket> {
        self.store.list(&Default::default()).unwrap()
    }

    pub async fn run_for(&mut self, d: Duration) -> RunSummary {
        self.monitor.run(tokio::time::sleep(d), |_| {}).await
    }
}

pub fn config() -> MonitorConfig {
    MonitorConfig::default()
        .interval(secs(1))
        .observe_timeout(secs(2))
}

pub mod machine;
