//! [`ComposeEnv`]: the stack as Docker Compose services of `docker-compose.ratelimit.yml`,
//! driven through the compose CLI (`docker compose`, else `docker-compose`) and recorded in a
//! state directory.
//!
//! - `config`: [`ComposeConfig`], which file, project, ports and images.
//! - `state`: [`ComposeState`], the record `up` writes (`compose.json`).
//! - `engine`: running compose and `docker`, finding containers, networks and volumes by their
//!   compose labels.
//! - `inspect`: what `docker inspect` says about a container.
//! - `ready`: waiting until a container is ready on its host port, or gone.
//! - `up`: bringing the project up (ports checked first, torn down again on failure) and down
//!   (verified: no container, network or volume of the project left, no port open).
//!
//! Components are services: `redis` is `redis`, `node-N` is `ratelimiter-N`. Readiness is probed
//! from the host on the published ports (Redis PING, a node's `/readyz`), as the monitor sees
//! the stack. The Redis of the compose file persists (append-only file on the `redis-data`
//! volume), so a stopped or killed Redis comes back with its data;
//! [`Environment::restart_empty`] removes the container and the volume to bring it back empty.

mod config;
mod engine;
mod inspect;
mod ready;
mod state;
mod up;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;

pub use config::{CORE_SERVICES, ComposeConfig, IMAGE_VARIABLES, NODES};
pub use state::{COMPOSE_STATE_FILE, COMPOSE_STATE_FORMAT, ComposeState};

use crate::environment::{
    Component, ComponentStatus, DownReport, Endpoints, EnvKind, Environment, PauseStyle,
};
use crate::error::{Error, Result};
use crate::probe::{NodeProbe, port_open, wait_until};
use crate::state_file::StateFile;
use engine::Compose;
use inspect::Container;

/// The volume holding Redis's append-only file, as the compose file names it.
pub const REDIS_VOLUME: &str = "redis-data";

/// The load balancer's service, and its health path in `deploy/ratelimit/nginx.conf`.
const LB_SERVICE: &str = "lb";
const LB_HEALTH: &str = "/nginx-health";

/// Bound on a compose command other than `up`.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(90);

/// A compose project of the rate limiter, as recorded in its state directory.
pub struct ComposeEnv {
    dir: PathBuf,
    state: ComposeState,
    compose: Compose,
    ready_timeout: Duration,
    stop_timeout: Duration,
    down_on_drop: AtomicBool,
    nodes: NodeProbe,
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

    fn with_state(dir: &Path, state: ComposeState, config: &ComposeConfig) -> Result<Self> {
        let compose = Compose::new(
            state.command.clone(),
            state.file.clone(),
            state.project.clone(),
            state.variables.clone(),
        );
        Ok(Self {
            dir: dir.to_owned(),
            state,
            compose,
            ready_timeout: config.ready_timeout,
            stop_timeout: config.stop_timeout,
            down_on_drop: AtomicBool::new(false),
            nodes: NodeProbe::new(Duration::from_millis(500))?,
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
        }
    }

    fn port(&self, component: Component) -> Result<u16> {
        match component {
            Component::Redis => Ok(self.state.redis_port),
            Component::Node(n) => n
                .checked_sub(1)
                .and_then(|i| self.state.node_ports.get(i))
                .copied()
                .ok_or_else(|| Error::UnknownComponent(component.to_string())),
        }
    }

    /// The component's container and what `docker inspect` says of it, if it exists.
    async fn container(&self, component: Component) -> Result<Option<(String, Container)>> {
        self.port(component)?;
        let service = Self::service(component);
        let Some(id) = engine::container_of(&self.compose, &service).await? else {
            return Ok(None);
        };
        Ok(inspect::inspect(&id).await?.map(|c| (id, c)))
    }

    /// The component's container, which must be running.
    async fn running(&self, component: Component) -> Result<(String, Container)> {
        self.container(component)
            .await?
            .filter(|(_, c)| c.running)
            .ok_or_else(|| Error::NotRunning(component.to_string()))
    }

    /// The project's default network, by name.
    async fn network(&self) -> Result<String> {
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

    async fn compose(&self, args: &[&str]) -> Result<String> {
        self.compose.run(args, COMMAND_TIMEOUT).await
    }
}

#[async_trait]
impl Environment for ComposeEnv {
    fn kind(&self) -> &'static str {
        "compose"
    }

    fn components(&self) -> Vec<Component> {
        std::iter::once(Component::Redis)
            .chain((1..=self.state.node_ports.len()).map(Component::Node))
            .collect()
    }

    fn endpoints(&self) -> Endpoints {
        self.state.endpoints()
    }

    async fn status(&self) -> Result<Vec<ComponentStatus>> {
        let network = self.network().await.ok();
        let mut out = Vec::new();
        for component in self.components() {
            let port = self.port(component)?;
            let container = self.container(component).await?;
            let (running, paused) = container
                .as_ref()
                .map_or((false, false), |(_, c)| (c.running, c.paused));
            let ready = running && !paused && self.probe_ready(component).await;
            let mut notes = Vec::new();
            if let Some((_, c)) = &container {
                if let Some(h) = &c.health {
                    notes.push(format!("docker health: {h}"));
                }
                if let Some(net) = network
                    .as_ref()
                    .filter(|n| running && !c.networks.contains(n))
                {
                    notes.push(format!("disconnected from {net}"));
                }
            } else {
                notes.push(format!(
                    "no container for service {}",
                    Self::service(component)
                ));
            }
            out.push(ComponentStatus {
                component,
                port,
                pid: None,
                container: container.as_ref().map(|(_, c)| c.name.clone()),
                running,
                paused,
                ready,
                started_at: container
                    .as_ref()
                    .filter(|_| running)
                    .and_then(|(_, c)| c.started_at),
                log: container
                    .as_ref()
                    .map(|(_, c)| format!("docker logs {}", c.name)),
                note: (!notes.is_empty()).then(|| notes.join("; ")),
            });
        }
        Ok(out)
    }

    async fn start(&self, component: Component) -> Result<()> {
        let service = Self::service(component);
        match self.container(component).await? {
            Some((_, c)) if c.running => return Ok(()),
            Some(_) => self.compose(&["start", &service]).await?,
            None => {
                self.compose(&["up", "-d", "--no-deps", "--no-build", &service])
                    .await?
            }
        };
        let took = self.wait_ready(component).await?;
        tracing::info!(component = %component, service, took_ms = took.as_millis(), "started");
        Ok(())
    }

    async fn stop(&self, component: Component) -> Result<()> {
        let service = Self::service(component);
        if self
            .container(component)
            .await?
            .is_some_and(|(_, c)| c.running)
        {
            let t = self.stop_timeout.as_secs().to_string();
            self.compose(&["stop", "-t", &t, &service]).await?;
        }
        self.wait_gone(component, self.stop_timeout + Duration::from_secs(10))
            .await?;
        tracing::info!(component = %component, service, "stopped");
        Ok(())
    }

    async fn kill(&self, component: Component) -> Result<()> {
        self.running(component).await?;
        let service = Self::service(component);
        // `docker kill` counts as a manual stop: the restart policy does not bring it back.
        self.compose(&["kill", "-s", "SIGKILL", &service]).await?;
        self.wait_gone(component, Duration::from_secs(10)).await
    }

    async fn pause(&self, component: Component) -> Result<()> {
        let (_, c) = self.running(component).await?;
        if !c.paused {
            self.compose(&["pause", &Self::service(component)]).await?;
        }
        Ok(())
    }

    async fn resume(&self, component: Component) -> Result<()> {
        let (_, c) = self.running(component).await?;
        if c.paused {
            self.compose(&["unpause", &Self::service(component)])
                .await?;
        }
        Ok(())
    }

    async fn restart_empty(&self, component: Component) -> Result<String> {
        if component != Component::Redis {
            self.restart(component).await?;
            return Ok(format!(
                "stopped {component} and started it again (it keeps no data)"
            ));
        }
        let service = Self::service(component);
        let mut did = Vec::new();
        if let Some((_, c)) = self.container(component).await? {
            self.stop(component).await?;
            self.compose(&["rm", "-f", &service]).await?;
            did.push(format!("stopped and removed container {}", c.name));
        }
        if let Some(volume) = engine::named(&self.compose, "volume", "volume", REDIS_VOLUME).await?
        {
            engine::docker(&["volume", "rm", &volume]).await?;
            did.push(format!("removed volume {volume} (its append-only file)"));
        }
        self.compose(&["up", "-d", "--no-deps", "--no-build", &service])
            .await?;
        self.wait_ready(component).await?;
        did.push("created it again, empty, with `up -d --no-deps redis`".to_owned());
        Ok(did.join(", "))
    }

    fn keeps_data(&self, component: Component) -> bool {
        component == Component::Redis
    }

    fn redis_pause_style(&self) -> PauseStyle {
        PauseStyle::Freeze
    }

    async fn disconnect(&self, component: Component) -> Result<()> {
        let (id, c) = self.running(component).await?;
        let network = self.network().await?;
        if c.networks.contains(&network) {
            engine::docker(&["network", "disconnect", &network, &id]).await?;
        }
        tracing::info!(component = %component, network, "disconnected");
        Ok(())
    }

    async fn reconnect(&self, component: Component) -> Result<()> {
        let (id, c) = self.running(component).await?;
        let network = self.network().await?;
        if !c.networks.contains(&network) {
            // Under the service's name, so that its peers find it again by DNS.
            let alias = Self::service(component);
            engine::docker(&["network", "connect", "--alias", &alias, &network, &id]).await?;
        }
        // The published port comes back with the network endpoint.
        let port = self.port(component)?;
        wait_until(Duration::from_secs(5), Duration::from_millis(50), || {
            port_open(port)
        })
        .await;
        tracing::info!(component = %component, network, "reconnected");
        Ok(())
    }

    async fn down(&self) -> Result<DownReport> {
        up::down(self).await
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
