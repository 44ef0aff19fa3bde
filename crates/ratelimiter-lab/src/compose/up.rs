//! Bringing a compose project up (every published port checked before anything starts; the
//! project torn down again if a later step fails) and down (verified: nothing with the project's
//! label left, no port open).

use std::net::TcpListener;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::Utc;

use super::config::ComposeConfig;
use super::engine::{self, Compose};
use super::env::ComposeEnv;
use super::state::{COMPOSE_STATE_FORMAT, ComposeState};
use crate::environment::{DownReport, EnvKind};
use crate::error::{Error, Result};
use crate::probe::port_open;
use crate::state_file::StateFile;

/// Bound on `up`: images may be pulled, or built with `--build`.
const UP_TIMEOUT: Duration = Duration::from_secs(30 * 60);

impl ComposeEnv {
    /// Runs `up -d` on the services of `config`, waits until Redis and every node answer on
    /// their host ports (and the load balancer its health path, when it runs), and records the
    /// project in `config.state_dir`.
    ///
    /// Every published port is checked before anything starts, and the project must not exist
    /// yet. If a later step fails, the project is taken down again (`down -v`).
    ///
    /// # Errors
    /// [`Error::Config`], [`Error::AlreadyUp`] when the state directory records a project that
    /// still has containers, [`Error::ProjectExists`] when the project exists already,
    /// [`Error::NoCompose`],
    /// [`Error::PortTaken`] naming the port, [`Error::Command`] when compose fails (with its
    /// output), [`Error::ContainerNotReady`] (with the end of the container's log).
    pub async fn up(config: ComposeConfig) -> Result<Self> {
        config.validate()?;
        let dir = std::path::absolute(&config.state_dir)
            .map_err(|e| Error::io(format!("state dir {}", config.state_dir.display()), e))?;
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
        if let Some(old) = ComposeState::load(&dir)? {
            let old = Self::with_state(&dir, old, &config)?;
            let left = engine::leftovers(&old.compose).await?;
            if !left.is_empty() {
                return Err(Error::AlreadyUp {
                    dir,
                    environment: EnvKind::Compose,
                    running: format!("compose project {}: {}", old.state.project, left.join(", ")),
                });
            }
            ComposeState::remove(&dir)?;
        }
        let command = engine::detect().await?;
        let file = std::path::absolute(&config.file)
            .map_err(|e| Error::io(format!("compose file {}", config.file.display()), e))?;
        let probe = Compose::new(
            command.clone(),
            file.clone(),
            config.project.clone(),
            config.environment(),
        )
        .with_secrets(config.secrets.clone());
        let existing = engine::leftovers(&probe).await?;
        if existing.iter().any(|l| l.starts_with("container ")) {
            return Err(Error::ProjectExists {
                project: config.project.clone(),
                what: existing.join(", "),
                down: probe.line(&["down", "-v"]),
            });
        }
        for (service, port) in config.published() {
            TcpListener::bind(("127.0.0.1", port))
                .map(drop)
                .map_err(|source| Error::PortTaken {
                    port,
                    instead: config.instead(&service, port),
                    component: service,
                    source,
                })?;
        }
        let services = config.services();
        let state = ComposeState {
            format: COMPOSE_STATE_FORMAT,
            environment: "compose".to_owned(),
            subject: "ratelimit".to_owned(),
            created_at: Utc::now(),
            file,
            project: config.project.clone(),
            command,
            services: services.clone(),
            variables: config.environment(),
            redis_port: config.redis_port,
            node_ports: config.node_ports.clone(),
            key_prefix: "ratelimit:".to_owned(),
            secrets: config.secrets.clone(),
        };
        state.save(&dir)?;
        let env = Self::with_state(&dir, state, &config)?;
        let mut args = vec![
            "up",
            "-d",
            if config.build {
                "--build"
            } else {
                "--no-build"
            },
        ];
        args.extend(services.iter().map(String::as_str));
        let started = async {
            env.compose.run(&args, UP_TIMEOUT).await?;
            for c in env.state.components() {
                env.wait_ready(c).await?;
            }
            env.wait_lb().await
        };
        if let Err(e) = started.await {
            // Leave nothing half-started behind.
            let _ = down(&env).await;
            return Err(e);
        }
        tracing::info!(project = env.state.project, "compose stack up");
        Ok(env)
    }
}

/// `down -v --remove-orphans` on the project, then checks that nothing with its label is left
/// and that its ports closed. The state file is removed when nothing is left (kept otherwise, so
/// that `down` can be run again).
pub(super) async fn down(env: &ComposeEnv) -> Result<DownReport> {
    let before = engine::leftovers(&env.compose).await?;
    let t = env.stop_timeout.as_secs().to_string();
    let mut stopped = Vec::new();
    match env
        .compose(&["down", "-v", "--remove-orphans", "-t", &t])
        .await
    {
        Ok(_) => {}
        Err(e) => stopped.push(format!("compose down failed: {e}")),
    }
    let left = engine::leftovers(&env.compose).await?;
    stopped.extend(
        before
            .iter()
            .filter(|b| !left.contains(b))
            .map(|b| format!("{b}: removed")),
    );
    if before.is_empty() {
        stopped.push(format!(
            "compose project {}: nothing was left to remove",
            env.state.project
        ));
    }
    let mut ports_still_open = Vec::new();
    let mut ports: Vec<u16> = vec![env.state.redis_port];
    ports.extend(&env.state.node_ports);
    let started = |service: &str| {
        env.state.services.is_empty() || env.state.services.iter().any(|s| s == service)
    };
    ports.extend(
        [
            ("lb", "LB_PORT"),
            ("prometheus", "PROMETHEUS_PORT"),
            ("grafana", "GRAFANA_PORT"),
        ]
        .iter()
        .filter(|(service, _)| started(service))
        .filter_map(|(_, v)| env.state.variables.get(*v)?.parse::<u16>().ok()),
    );
    for port in ports {
        if port_open(port).await {
            ports_still_open.push(port);
        }
    }
    if left.is_empty() {
        ComposeState::remove(&env.dir)?;
        env.down_on_drop.store(false, Ordering::Relaxed);
    }
    Ok(DownReport {
        stopped,
        ports_still_open,
        logs_kept: None,
        left_behind: left,
    })
}
