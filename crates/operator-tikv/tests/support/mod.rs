//! Shared by the integration tests: a simulator, a subject pointed at it, and a monitor loop
//! over both with a fresh ticket database.

#![allow(dead_code)] // each test file uses a different part

use std::sync::Arc;
use std::time::Duration;

use operator_core::alert::Timing;
use operator_core::{InvariantChecker, MonitorConfig, MonitorLoop, TickReport, TicketStore};
use operator_tikv::simulator::Simulator;
use operator_tikv::{TikvChecker, TikvConfig, TikvSubject};

/// A subject configuration for `sim`, with short request timeouts.
pub fn config(sim: &Simulator) -> TikvConfig {
    TikvConfig::default()
        .pd_endpoints([sim.pd_url()])
        .prometheus(Some(sim.prometheus_url()))
        .request_timeout(Duration::from_millis(500))
}

/// A monitor configuration in which every TiKV invariant fires and resolves at once (tests
/// override the ones they study).
pub fn immediate_timings() -> MonitorConfig {
    let mut config = MonitorConfig::default()
        .interval(Duration::from_millis(100))
        .observe_timeout(Duration::from_secs(3));
    for spec in TikvChecker::default().invariants() {
        config = config.timing(spec.name, Timing::default());
    }
    config
}

/// The simulator, and a monitor loop of a subject pointed at it.
pub struct Cluster {
    pub sim: Simulator,
    pub monitor: MonitorLoop<TikvSubject, TikvChecker>,
    pub store: Arc<TicketStore>,
    _dir: tempfile::TempDir,
}

impl Cluster {
    /// A healthy simulated cluster, monitored with immediate timings.
    pub async fn start() -> Self {
        Self::start_with(immediate_timings()).await
    }

    /// A healthy simulated cluster, monitored with `monitor_config`.
    pub async fn start_with(monitor_config: MonitorConfig) -> Self {
        let sim = Simulator::start().await.expect("simulator starts");
        let dir = tempfile::tempdir().expect("temporary directory");
        let store =
            Arc::new(TicketStore::open(dir.path().join("tickets.db")).expect("ticket store"));
        let subject = TikvSubject::new(config(&sim)).expect("valid configuration");
        let monitor = MonitorLoop::new(
            subject,
            TikvChecker::default(),
            Arc::clone(&store),
            monitor_config,
        )
        .expect("monitor");
        Self {
            sim,
            monitor,
            store,
            _dir: dir,
        }
    }

    /// One tick.
    pub async fn tick(&mut self) -> TickReport {
        self.monitor.tick().await.expect("tick records its outcome")
    }

    /// Open tickets as `invariant[entity]`, sorted.
    pub fn open(&self) -> Vec<String> {
        let mut open: Vec<String> = self
            .store
            .open_tickets("tikv")
            .expect("open tickets")
            .into_iter()
            .map(|t| key(&t.invariant, t.entity.as_deref()))
            .collect();
        open.sort();
        open
    }
}

/// `invariant[entity]` or `invariant`.
pub fn key(invariant: &str, entity: Option<&str>) -> String {
    match entity {
        Some(e) => format!("{invariant}[{e}]"),
        None => invariant.to_owned(),
    }
}

/// `opened invariant[entity]` / `resolved ...` for each ticket event of a tick.
pub fn events(report: &TickReport) -> Vec<String> {
    report
        .events
        .iter()
        .map(|e| match e {
            operator_core::Event::Opened { violation, .. } => format!(
                "opened {}",
                key(&violation.invariant, violation.entity.as_deref())
            ),
            operator_core::Event::Escalated {
                violation, from, ..
            } => format!(
                "escalated {} from {from} to {}",
                key(&violation.invariant, violation.entity.as_deref()),
                violation.severity
            ),
            operator_core::Event::Resolved { key: k, .. } => {
                format!("resolved {}", key(&k.invariant, k.entity.as_deref()))
            }
            operator_core::Event::ClearedWhileHeld { key: k, .. } => {
                format!("held {}", key(&k.invariant, k.entity.as_deref()))
            }
        })
        .collect()
}
