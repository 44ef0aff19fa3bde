//! The [`Environment`] verbs on compose services: `docker compose start/stop/kill/pause/unpause`,
//! a network disconnect for a partition, and `down` (in `up`).

use std::time::Duration;

use async_trait::async_trait;

use super::config::REDIS_VOLUME;
use super::engine;
use super::env::ComposeEnv;
use super::up;
use crate::environment::{
    Component, ComponentStatus, DownReport, Endpoints, Environment, PauseStyle,
};
use crate::error::Result;
use crate::probe::{port_open, wait_until};

#[async_trait]
impl Environment for ComposeEnv {
    fn kind(&self) -> &'static str {
        "compose"
    }

    fn components(&self) -> Vec<Component> {
        self.state.components()
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
