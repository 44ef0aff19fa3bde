//! The [`Environment`] verbs on local processes: spawn, signals (`SIGTERM` then `SIGKILL`,
//! `SIGSTOP`, `SIGCONT`), and `down` (in `up`).

use std::time::Duration;

use async_trait::async_trait;
use nix::sys::signal::Signal;

use super::env::LocalEnv;
use super::overrides;
use super::process::{self, Liveness};
use super::up;
use crate::environment::{Component, ComponentStatus, DownReport, Endpoints, Environment};
use crate::error::{Error, Result};
use crate::probe::port_open;

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
                note: if live == Liveness::Reused {
                    Some(format!(
                        "recorded pid {} now belongs to another process",
                        rec.pid.unwrap_or(0)
                    ))
                } else {
                    let o = self.overrides(rec.component);
                    (!o.is_empty()).then(|| {
                        format!("runs with {} over its usual flags", overrides::describe(&o))
                    })
                },
            });
        }
        Ok(out)
    }

    async fn start(&self, component: Component) -> Result<()> {
        let rec = self.record(component)?;
        if matches!(process::liveness(&rec), Liveness::Running { .. }) {
            return Ok(());
        }
        // A plain start is a start with the usual flags.
        self.set_overrides(component, Vec::new())?;
        self.spawn_ready(&rec).await
    }

    async fn restart_with(&self, component: Component, overrides: &[(&str, &str)]) -> Result<()> {
        let rec = self.record(component)?;
        self.stop(component).await?;
        self.set_overrides(component, overrides::owned(overrides))?;
        tracing::info!(
            component = %component,
            overrides = %overrides::describe(&overrides::owned(overrides)),
            "restarting with other flags"
        );
        self.spawn_ready(&rec).await
    }

    fn overrides(&self, component: Component) -> Vec<(String, String)> {
        self.lock_state()
            .overrides
            .get(&component)
            .cloned()
            .unwrap_or_default()
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

impl LocalEnv {
    /// Spawns `rec`'s component (its port must be free) and waits until it is ready.
    async fn spawn_ready(&self, rec: &super::ProcessRecord) -> Result<()> {
        if port_open(rec.port).await {
            return Err(Error::PortTaken {
                port: rec.port,
                component: rec.component.to_string(),
                instead: "wait until it is free".to_owned(),
                source: std::io::Error::from(std::io::ErrorKind::AddrInUse),
            });
        }
        let rec = self.spawn(rec.component)?;
        self.wait_ready(&rec).await?;
        Ok(())
    }
}
