//! [`LocalEnv`]: the stack as local processes on 127.0.0.1, recorded in a state directory.
//!
//! - `config`: [`StackConfig`], what to start and where.
//! - `state`: [`StackState`], the state file (pids, start times, ports, argv, log files).
//! - `process`: detached spawning, identity by start time, signals.
//! - `up`: bringing a stack up (ports checked first, rolled back on failure) and down.
//!
//! The processes run in their own process groups with their output in log files, so they
//! outlive the command that started them: `operator stack up` returns, and later commands find
//! them through the state file. A process is only ever signalled while its pid still has the
//! recorded start time.

mod config;
mod process;
mod state;
mod up;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use nix::sys::signal::Signal;
use tokio::time::Instant;

pub use config::StackConfig;
pub use state::{ProcessRecord, STATE_FILE, STATE_FORMAT, StackState};

use crate::environment::{Component, ComponentStatus, DownReport, Endpoints, EnvKind, Environment};
use crate::error::{Error, Result};
use crate::probe::{NodeProbe, RedisProbe, port_open};
use crate::state_file::StateFile;
use process::Liveness;

/// A local stack of processes, as recorded in its state directory.
pub struct LocalEnv {
    dir: PathBuf,
    state: Mutex<StackState>,
    /// Processes this very process started, so that they are reaped when they exit.
    children: Mutex<HashMap<Component, Child>>,
    node_log: String,
    ready_timeout: Duration,
    stop_grace: Duration,
    kill_on_drop: AtomicBool,
    nodes: NodeProbe,
}

impl std::fmt::Debug for LocalEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalEnv")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl LocalEnv {
    /// The stack recorded in `dir` by an earlier [`LocalEnv::up`].
    ///
    /// # Errors
    /// [`Error::NoStack`] when `dir` records none; state file errors.
    pub fn open(dir: &Path) -> Result<Self> {
        let state = StackState::load(dir)?.ok_or_else(|| Error::NoStack {
            dir: dir.to_owned(),
            environment: EnvKind::Local,
            other: None,
        })?;
        Self::with_state(dir, state, &StackConfig::default())
    }

    fn with_state(dir: &Path, state: StackState, config: &StackConfig) -> Result<Self> {
        Ok(Self {
            dir: dir.to_owned(),
            state: Mutex::new(state),
            children: Mutex::new(HashMap::new()),
            node_log: config.node_log.clone(),
            ready_timeout: config.ready_timeout,
            stop_grace: config.stop_grace,
            kill_on_drop: AtomicBool::new(false),
            nodes: NodeProbe::new(Duration::from_millis(500))?,
        })
    }

    /// When set, dropping this value kills (SIGKILL) every recorded process and removes the
    /// state file: for a demo or a test that must leave nothing behind even when it fails.
    pub fn kill_on_drop(&self, on: bool) {
        self.kill_on_drop.store(on, Ordering::Relaxed);
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A copy of the current state.
    pub fn state(&self) -> StackState {
        self.lock_state().clone()
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, StackState> {
        // The state is replaced field by field under the lock; a panic cannot leave it torn.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lock_children(&self) -> std::sync::MutexGuard<'_, HashMap<Component, Child>> {
        self.children
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn record(&self, component: Component) -> Result<ProcessRecord> {
        self.lock_state()
            .record(component)
            .cloned()
            .ok_or_else(|| Error::UnknownComponent(component.to_string()))
    }

    fn running(&self, component: Component) -> Result<ProcessRecord> {
        let rec = self.record(component)?;
        match process::liveness(&rec) {
            Liveness::Running { .. } => Ok(rec),
            _ => Err(Error::NotRunning(component.to_string())),
        }
    }

    /// Whether `rec` answers its readiness probe now.
    async fn probe_ready(&self, rec: &ProcessRecord) -> bool {
        match rec.component {
            Component::Redis => {
                let url = format!("redis://127.0.0.1:{}", rec.port);
                match RedisProbe::new(&url, Duration::from_millis(300)) {
                    Ok(p) => p.ping().await,
                    Err(_) => false,
                }
            }
            Component::Node(_) => {
                self.nodes
                    .ready(&format!("http://127.0.0.1:{}", rec.port))
                    .await
            }
        }
    }

    /// Waits until `rec` is ready; fails early when its process exits.
    async fn wait_ready(&self, rec: &ProcessRecord) -> Result<Duration> {
        let start = Instant::now();
        let not_ready = |reason: String| Error::NotReady {
            component: rec.component.to_string(),
            reason,
            log: rec.log.clone(),
            tail: process::tail(&rec.log, 15),
        };
        loop {
            if self.probe_ready(rec).await {
                return Ok(start.elapsed());
            }
            let exited = match self.lock_children().get_mut(&rec.component) {
                Some(child) => child.try_wait().ok().flatten().map(|s| s.to_string()),
                None => (!matches!(process::liveness(rec), Liveness::Running { .. }))
                    .then(|| "exited".to_owned()),
            };
            if let Some(status) = exited {
                return Err(not_ready(format!("it exited during start-up ({status})")));
            }
            if start.elapsed() >= self.ready_timeout {
                return Err(not_ready(format!(
                    "not ready after {} s",
                    self.ready_timeout.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Spawns `component` from its record (Redis from an empty working directory) and records
    /// its new pid; does not wait.
    fn spawn(&self, component: Component) -> Result<ProcessRecord> {
        let rec = self.record(component)?;
        let workdir = match component {
            Component::Redis => {
                let dir = self.dir.join("redis");
                // Restarting Redis brings it back empty, as a crash without persistence would.
                let _ = std::fs::remove_dir_all(&dir);
                std::fs::create_dir_all(&dir)
                    .map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
                dir
            }
            Component::Node(_) => self.dir.clone(),
        };
        let env: Vec<(&str, &str)> = match component {
            Component::Redis => vec![],
            Component::Node(_) => vec![("RUST_LOG", &self.node_log), ("NO_COLOR", "1")],
        };
        let child = process::spawn(&rec, &workdir, &env)?;
        let pid = child.id();
        let start_ticks = process::stat(pid).map(|s| s.start_ticks);
        self.lock_children().insert(component, child);
        let updated = {
            let mut state = self.lock_state();
            let r = state.record_mut(component)?;
            r.pid = Some(pid);
            r.start_ticks = start_ticks;
            r.started_at = Some(Utc::now());
            let updated = r.clone();
            state.save(&self.dir)?;
            updated
        };
        tracing::info!(component = %component, pid, port = updated.port, "started");
        Ok(updated)
    }

    async fn send(&self, component: Component, signal: Signal) -> Result<ProcessRecord> {
        let rec = self.running(component)?;
        if !process::signal(&rec, signal)? {
            return Err(Error::NotRunning(component.to_string()));
        }
        Ok(rec)
    }

    fn take_child(&self, component: Component) -> Option<Child> {
        self.lock_children().remove(&component)
    }
}

#[async_trait]
impl Environment for LocalEnv {
    fn kind(&self) -> &'static str {
        "local"
    }

    fn components(&self) -> Vec<Component> {
        self.lock_state()
            .components
            .iter()
            .map(|r| r.component)
            .collect()
    }

    fn endpoints(&self) -> Endpoints {
        self.lock_state().endpoints()
    }

    async fn status(&self) -> Result<Vec<ComponentStatus>> {
        let records = self.state().components;
        let mut out = Vec::new();
        for rec in records {
            let live = process::liveness(&rec);
            let (running, paused) = match live {
                Liveness::Running { stopped } => (true, stopped),
                _ => (false, false),
            };
            let ready = running && !paused && self.probe_ready(&rec).await;
            out.push(ComponentStatus {
                component: rec.component,
                port: rec.port,
                pid: rec.pid.filter(|_| running),
                container: None,
                running,
                paused,
                ready,
                started_at: rec.started_at.filter(|_| running),
                log: Some(rec.log.display().to_string()),
                note: (live == Liveness::Reused).then(|| {
                    format!(
                        "recorded pid {} now belongs to another process",
                        rec.pid.unwrap_or(0)
                    )
                }),
            });
        }
        Ok(out)
    }

    async fn start(&self, component: Component) -> Result<()> {
        let rec = self.record(component)?;
        if matches!(process::liveness(&rec), Liveness::Running { .. }) {
            return Ok(());
        }
        if port_open(rec.port).await {
            return Err(Error::PortTaken {
                port: rec.port,
                component: component.to_string(),
                source: std::io::Error::from(std::io::ErrorKind::AddrInUse),
            });
        }
        let rec = self.spawn(component)?;
        self.wait_ready(&rec).await?;
        Ok(())
    }

    async fn stop(&self, component: Component) -> Result<()> {
        let rec = self.record(component)?;
        let mut child = self.take_child(component);
        let what = process::terminate(&rec, child.as_mut(), self.stop_grace).await?;
        tracing::info!(component = %component, "{what}");
        Ok(())
    }

    async fn kill(&self, component: Component) -> Result<()> {
        let rec = self.send(component, Signal::SIGKILL).await?;
        let mut child = self.take_child(component);
        process::wait_gone(&rec, child.as_mut(), Duration::from_secs(5)).await;
        Ok(())
    }

    async fn pause(&self, component: Component) -> Result<()> {
        self.send(component, Signal::SIGSTOP).await.map(drop)
    }

    async fn resume(&self, component: Component) -> Result<()> {
        self.send(component, Signal::SIGCONT).await.map(drop)
    }

    async fn down(&self) -> Result<DownReport> {
        up::down(self).await
    }
}

impl Drop for LocalEnv {
    fn drop(&mut self) {
        if !self.kill_on_drop.load(Ordering::Relaxed) {
            return;
        }
        for rec in self.state().components.iter().rev() {
            let _ = process::signal(rec, Signal::SIGCONT);
            let _ = process::signal(rec, Signal::SIGKILL);
        }
        for (_, mut child) in self.lock_children().drain() {
            let _ = child.wait();
        }
        let _ = StackState::remove(&self.dir);
    }
}
