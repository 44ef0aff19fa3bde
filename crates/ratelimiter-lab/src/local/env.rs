//! [`LocalEnv`] itself: the recorded stack, the processes this process started, and spawning,
//! signalling and waiting for one component.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::Utc;
use nix::sys::signal::Signal;
use tokio::time::Instant;

use super::config::StackConfig;
use super::overrides;
use super::process::{self, Liveness};
use super::state::{ProcessRecord, StackState};
use crate::environment::{Component, EnvKind};
use crate::error::{Error, Result};
use crate::probe::{NodeProbe, RedisProbe};
use crate::state_file::StateFile;

/// A local stack of processes, as recorded in its state directory.
pub struct LocalEnv {
    pub(super) dir: PathBuf,
    state: Mutex<StackState>,
    /// Processes this very process started, so that they are reaped when they exit.
    children: Mutex<HashMap<Component, Child>>,
    node_log: String,
    pub(super) ready_timeout: Duration,
    pub(super) stop_grace: Duration,
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

    pub(super) fn with_state(dir: &Path, state: StackState, config: &StackConfig) -> Result<Self> {
        Ok(Self {
            dir: dir.to_owned(),
            children: Mutex::new(HashMap::new()),
            node_log: config.node_log.clone(),
            ready_timeout: config.ready_timeout,
            stop_grace: config.stop_grace,
            kill_on_drop: AtomicBool::new(false),
            nodes: NodeProbe::new(Duration::from_millis(500))?
                .with_token(state.secrets.admin_token.clone()),
            state: Mutex::new(state),
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

    pub(super) fn lock_state(&self) -> std::sync::MutexGuard<'_, StackState> {
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

    pub(super) fn record(&self, component: Component) -> Result<ProcessRecord> {
        self.lock_state()
            .record(component)
            .cloned()
            .ok_or_else(|| Error::UnknownComponent(component.to_string()))
    }

    pub(super) fn running(&self, component: Component) -> Result<ProcessRecord> {
        let rec = self.record(component)?;
        match process::liveness(&rec) {
            Liveness::Running { .. } => Ok(rec),
            _ => Err(Error::NotRunning(component.to_string())),
        }
    }

    /// Whether `rec` answers its readiness probe now.
    pub(super) async fn probe_ready(&self, rec: &ProcessRecord) -> bool {
        match rec.component {
            Component::Redis | Component::RedisMember(_) | Component::Sentinel(_) => {
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
    pub(super) async fn wait_ready(&self, rec: &ProcessRecord) -> Result<Duration> {
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
    pub(super) fn spawn(&self, component: Component) -> Result<ProcessRecord> {
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
            Component::RedisMember(_) => {
                // A cluster member keeps its directory: its `nodes.conf` brings it back under its
                // old identity (as a replica of whoever took over its slots), its data is gone
                // (no persistence), as a crash would leave it.
                let dir = self.dir.join(component.to_string());
                let _ = std::fs::remove_file(dir.join("dump.rdb"));
                std::fs::create_dir_all(&dir)
                    .map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
                dir
            }
            Component::Sentinel(_) => {
                // A sentinel keeps its directory: `up` wrote its `sentinel.conf`, and it rewrites
                // it with what it learned (the current primary), which a restart must keep.
                let dir = self.dir.join(component.to_string());
                std::fs::create_dir_all(&dir)
                    .map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
                dir
            }
            Component::Node(_) => self.dir.clone(),
        };
        // Secrets go through the environment: a node's argv is readable by every user
        // (`/proc/<pid>/cmdline`), its environment only by its owner.
        let secrets = self.lock_state().secrets.clone();
        let env: Vec<(&str, &str)> = match component {
            Component::Redis | Component::RedisMember(_) | Component::Sentinel(_) => vec![],
            Component::Node(_) => {
                let mut env = vec![("RUST_LOG", self.node_log.as_str()), ("NO_COLOR", "1")];
                env.extend(secrets.env());
                env
            }
        };
        // Flags recorded by `restart_with` apply over the usual ones; the record keeps those.
        let mut effective = rec.clone();
        if let Some(o) = self.lock_state().overrides.get(&component) {
            effective.args = overrides::apply(&rec.args, o);
        }
        let child = process::spawn(&effective, &workdir, &env)?;
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

    /// Records `overrides` for `component` (none: its usual flags), for its next spawn.
    pub(super) fn set_overrides(
        &self,
        component: Component,
        overrides: Vec<(String, String)>,
    ) -> Result<()> {
        let mut state = self.lock_state();
        let changed = if overrides.is_empty() {
            state.overrides.remove(&component).is_some()
        } else {
            state.overrides.insert(component, overrides.clone()) != Some(overrides)
        };
        if changed {
            state.save(&self.dir)?;
        }
        Ok(())
    }

    pub(super) async fn send(&self, component: Component, signal: Signal) -> Result<ProcessRecord> {
        let rec = self.running(component)?;
        if !process::signal(&rec, signal)? {
            return Err(Error::NotRunning(component.to_string()));
        }
        Ok(rec)
    }

    pub(super) fn take_child(&self, component: Component) -> Option<Child> {
        self.lock_children().remove(&component)
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
