//! [`ComposeEnv`] itself: the recorded project, the compose command that drives it, and how a
//! component maps to its service, host port and container.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::config::ComposeConfig;
use super::engine::{self, Compose};
use super::inspect::{self, Container};
use super::state::ComposeState;
use crate::environment::{Component, EnvKind};
use crate::error::{Error, Result};
use crate::probe::NodeProbe;
use crate::state_file::StateFile;

/// Bound on a compose command other than `up`.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(90);

/// A compose project of the rate limiter, as recorded in its state directory.
pub struct ComposeEnv {
    pub(super) dir: PathBuf,
    pub(super) state: ComposeState,
    pub(super) compose: Compose,
    pub(super) ready_timeout: Duration,
    pub(super) stop_timeout: Duration,
    pub(super) down_on_drop: AtomicBool,
    pub(super) nodes: NodeProbe,
}

impl std::fmt::Debug for ComposeEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComposeEnv")
            .field("dir", &self.dir)
            .field("project", &self.state.project)
            .finish_non_exhaustive()
    }
}

impl ComposeEnv {
    /// The stack recorded in `dir` by an earlier [`ComposeEnv::up`].
    ///
    /// # Errors
    /// [`Error::NoStack`] when `dir` records none; state file errors.
    pub fn open(dir: &Path) -> Result<Self> {
        let state = ComposeState::load(dir)?.ok_or_else(|| Error::NoStack {
            dir: dir.to_owned(),
            environment: EnvKind::Compose,
            other: None,
        })?;
        Self::with_state(dir, state, &ComposeConfig::default())
    }

    pub(super) fn with_state(
        dir: &Path,
        state: ComposeState,
        config: &ComposeConfig,
    ) -> Result<Self> {
        let compose = Compose::new(
            state.command.clone(),
            state.file.clone(),
            state.project.clone(),
            state.variables.clone(),
        )
        .with_secrets(state.secrets.clone());
        let nodes = NodeProbe::new(Duration::from_millis(500))?
            .with_token(state.secrets.admin_token.clone());
        Ok(Self {
            dir: dir.to_owned(),
            state,
            compose,
            ready_timeout: config.ready_timeout,
            stop_timeout: config.stop_timeout,
            down_on_drop: AtomicBool::new(false),
            nodes,
        })
    }

    /// When set, dropping this value runs `down -v` on the project (blocking) and removes the
    /// state file: for a demo or a test that must leave nothing behind even when it fails.
    pub fn down_on_drop(&self, on: bool) {
        self.down_on_drop.store(on, Ordering::Relaxed);
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What `up` recorded.
    pub fn state(&self) -> &ComposeState {
        &self.state
    }

    /// The compose service of a component: `redis`, `ratelimiter-N`.
    pub fn service(component: Component) -> String {
        match component {
            Component::Redis => "redis".to_owned(),
            Component::Node(n) => format!("ratelimiter-{n}"),
            Component::RedisMember(n) => format!("redis-{n}"),
            Component::Sentinel(n) => format!("sentinel-{n}"),
        }
    }

    pub(super) fn port(&self, component: Component) -> Result<u16> {
        match component {
            Component::Redis => Ok(self.state.redis_port),
            Component::RedisMember(_) | Component::Sentinel(_) => {
                Err(Error::UnknownComponent(component.to_string()))
            }
            Component::Node(n) => n
                .checked_sub(1)
                .and_then(|i| self.state.node_ports.get(i))
                .copied()
                .ok_or_else(|| Error::UnknownComponent(component.to_string())),
        }
    }

    /// The component's container and what `docker inspect` says of it, if it exists.
    pub(super) async fn container(
        &self,
        component: Component,
    ) -> Result<Option<(String, Container)>> {
        self.port(component)?;
        let service = Self::service(component);
        let Some(id) = engine::container_of(&self.compose, &service).await? else {
            return Ok(None);
        };
        Ok(inspect::inspect(&id).await?.map(|c| (id, c)))
    }

    /// The component's container, which must be running.
    pub(super) async fn running(&self, component: Component) -> Result<(String, Container)> {
        self.container(component)
            .await?
            .filter(|(_, c)| c.running)
            .ok_or_else(|| Error::NotRunning(component.to_string()))
    }

    /// The project's default network, by name.
    pub(super) async fn network(&self) -> Result<String> {
        engine::named(&self.compose, "network", "network", "default")
            .await?
            .ok_or_else(|| Error::Command {
                command: format!(
                    "docker network ls --filter {}",
                    self.compose.project_label()
                ),
                detail: "the project has no default network".to_owned(),
            })
    }

    pub(super) async fn compose(&self, args: &[&str]) -> Result<String> {
        self.compose.run(args, COMMAND_TIMEOUT).await
    }
}

impl Drop for ComposeEnv {
    fn drop(&mut self) {
        if !self.down_on_drop.load(Ordering::Relaxed) {
            return;
        }
        if self
            .compose
            .run_blocking(&["down", "-v", "--remove-orphans", "-t", "2"])
        {
            let _ = ComposeState::remove(&self.dir);
        }
    }
}
