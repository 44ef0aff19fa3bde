//! Waiting for containers: ready on their host ports (as the monitor sees them), the load
//! balancer answering its health path, gone after a stop or a kill. A container that stops or
//! keeps restarting fails the wait at once, with the end of its log.

use std::time::Duration;

use tokio::time::Instant;

use super::env::ComposeEnv;
use super::{engine, inspect};
use crate::environment::Component;
use crate::error::{Error, Result};
use crate::probe::{RedisProbe, port_open};

/// The load balancer's service, and its health path in `deploy/ratelimit/nginx.conf`.
const LB_SERVICE: &str = "lb";
const LB_HEALTH: &str = "/nginx-health";

impl ComposeEnv {
    /// Whether the component answers its readiness probe on its host port now.
    pub(super) async fn probe_ready(&self, component: Component) -> bool {
        let Ok(port) = self.port(component) else {
            return false;
        };
        match component {
            Component::Redis | Component::RedisMember(_) | Component::Sentinel(_) => {
                let url = format!("redis://127.0.0.1:{port}");
                match RedisProbe::new(&url, Duration::from_millis(300)) {
                    Ok(p) => p.ping().await,
                    Err(_) => false,
                }
            }
            Component::Node(_) => self.nodes.ready(&format!("http://127.0.0.1:{port}")).await,
        }
    }

    /// Waits until the component is ready; fails early when its container stops.
    pub(super) async fn wait_ready(&self, component: Component) -> Result<Duration> {
        let start = Instant::now();
        loop {
            if self.probe_ready(component).await {
                return Ok(start.elapsed());
            }
            let container = self.container(component).await?;
            let reason = match &container {
                None => Some("it has no container".to_owned()),
                Some((_, c)) if c.restarting => {
                    Some("its container exits and is being restarted".to_owned())
                }
                Some((_, c)) if !c.running => Some("its container stopped".to_owned()),
                _ if start.elapsed() >= self.ready_timeout => Some(format!(
                    "not ready after {} s",
                    self.ready_timeout.as_secs()
                )),
                _ => None,
            };
            if let Some(reason) = reason {
                let name = container.map_or_else(|| Self::service(component), |(_, c)| c.name);
                return Err(Error::ContainerNotReady {
                    component: component.to_string(),
                    reason,
                    tail: engine::log_tail(&name, 15).await,
                    container: name,
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the load balancer answers its health path on its host port, when `up`
    /// started it; fails early when its container stops.
    pub(super) async fn wait_lb(&self) -> Result<()> {
        let started =
            self.state.services.is_empty() || self.state.services.iter().any(|s| s == LB_SERVICE);
        let Some(port) = self
            .state
            .variables
            .get("LB_PORT")
            .and_then(|p| p.parse::<u16>().ok())
            .filter(|_| started)
        else {
            return Ok(());
        };
        let url = format!("http://127.0.0.1:{port}{LB_HEALTH}");
        let start = Instant::now();
        loop {
            if self.nodes.get_ok(&url).await {
                return Ok(());
            }
            let container = match engine::container_of(&self.compose, LB_SERVICE).await? {
                Some(id) => inspect::inspect(&id).await?,
                None => None,
            };
            let reason = match &container {
                None => Some("it has no container".to_owned()),
                Some(c) if c.restarting => {
                    Some("its container exits and is being restarted".to_owned())
                }
                Some(c) if !c.running => Some("its container stopped".to_owned()),
                _ if start.elapsed() >= self.ready_timeout => Some(format!(
                    "{url} did not answer within {} s",
                    self.ready_timeout.as_secs()
                )),
                _ => None,
            };
            if let Some(reason) = reason {
                let name = container.map_or_else(|| LB_SERVICE.to_owned(), |c| c.name);
                return Err(Error::ContainerNotReady {
                    component: "the load balancer".to_owned(),
                    reason,
                    tail: engine::log_tail(&name, 15).await,
                    container: name,
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the component's container no longer runs and its port is closed.
    pub(super) async fn wait_gone(&self, component: Component, timeout: Duration) -> Result<()> {
        let port = self.port(component)?;
        let start = Instant::now();
        loop {
            let running = self
                .container(component)
                .await?
                .is_some_and(|(_, c)| c.running);
            if !running && !port_open(port).await {
                return Ok(());
            }
            if start.elapsed() >= timeout {
                return Err(Error::Command {
                    command: format!("docker inspect {}", Self::service(component)),
                    detail: format!(
                        "{component} still {} after {} s",
                        if running { "runs" } else { "has its port open" },
                        timeout.as_secs()
                    ),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
