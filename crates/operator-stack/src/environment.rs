//! The environment abstraction: named components that can be started, stopped, killed, paused
//! and resumed, whatever runs them.
//!
//! [`LocalEnv`](crate::LocalEnv) runs them as local processes; a Compose environment would map
//! the same verbs to `docker compose start/stop/kill/pause/unpause/restart` on services named
//! like the components. Chaos faults and the demo only speak this trait, so they work on either.

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One part of the rate-limiter stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Component {
    /// The Redis server.
    Redis,
    /// A rate-limiter node, numbered from 1.
    Node(usize),
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Component::Redis => f.write_str("redis"),
            Component::Node(n) => write!(f, "node-{n}"),
        }
    }
}

impl FromStr for Component {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        if s == "redis" {
            return Ok(Component::Redis);
        }
        s.strip_prefix("node-")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n >= 1)
            .map(Component::Node)
            .ok_or_else(|| Error::UnknownComponent(s.to_owned()))
    }
}

impl From<Component> for String {
    fn from(c: Component) -> Self {
        c.to_string()
    }
}

impl TryFrom<String> for Component {
    type Error = Error;

    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

/// Where the stack's services answer: what a monitor, a load generator or a fault needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoints {
    /// `redis://127.0.0.1:<port>`.
    pub redis_url: String,
    /// Base URL of each node, `node-1` first.
    pub nodes: Vec<String>,
    /// The key prefix the nodes use.
    pub key_prefix: String,
}

impl Endpoints {
    /// The base URL of node `n` (1-based).
    ///
    /// # Errors
    /// [`Error::UnknownComponent`] when the stack has no such node.
    pub fn node(&self, n: usize) -> Result<&str> {
        n.checked_sub(1)
            .and_then(|i| self.nodes.get(i))
            .map(String::as_str)
            .ok_or_else(|| Error::UnknownComponent(Component::Node(n).to_string()))
    }

    /// `host:port` of node `n`: the entity the monitor names it by.
    ///
    /// # Errors
    /// As [`Endpoints::node`].
    pub fn node_addr(&self, n: usize) -> Result<String> {
        let url = self.node(n)?;
        Ok(url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned())
    }
}

/// How a component is doing, as its environment sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentStatus {
    /// Which component.
    pub component: Component,
    /// Its port on the loopback interface.
    pub port: u16,
    /// Its process id, in environments that run processes (a container environment would name
    /// the container in `note`).
    pub pid: Option<u32>,
    /// Whether it runs (a paused component runs).
    pub running: bool,
    /// Whether it is frozen (SIGSTOP, `docker pause`).
    pub paused: bool,
    /// Whether it answers its readiness probe (Redis PING, node `/readyz`).
    pub ready: bool,
    /// When it was last started.
    pub started_at: Option<DateTime<Utc>>,
    /// Its log file or log source.
    pub log: Option<String>,
    /// A note for humans (e.g. why a recorded pid was left alone).
    pub note: Option<String>,
}

/// What stopping a whole environment did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownReport {
    /// One line per component: what was done to it.
    pub stopped: Vec<String>,
    /// Ports still accepting connections afterwards (should be empty).
    pub ports_still_open: Vec<u16>,
    /// Where the logs were kept, if anywhere.
    pub logs_kept: Option<String>,
}

/// A place where the stack's components run.
///
/// Every verb waits until it has taken effect: `start` until the component is ready, `stop` and
/// `kill` until it is gone. `restart` defaults to `stop` then `start`.
#[async_trait]
pub trait Environment: Send + Sync {
    /// `local`, `compose`, ...
    fn kind(&self) -> &'static str;

    /// Every component, Redis first.
    fn components(&self) -> Vec<Component>;

    /// Where the services answer.
    fn endpoints(&self) -> Endpoints;

    /// The state of every component.
    ///
    /// # Errors
    /// When the environment itself cannot be queried.
    async fn status(&self) -> Result<Vec<ComponentStatus>>;

    /// Starts a component that is not running, and waits until it is ready. A running component
    /// is left alone.
    ///
    /// # Errors
    /// When it cannot be started or does not become ready.
    async fn start(&self, component: Component) -> Result<()>;

    /// Stops a component gracefully (SIGTERM, then SIGKILL after a grace period).
    ///
    /// # Errors
    /// When it cannot be signalled.
    async fn stop(&self, component: Component) -> Result<()>;

    /// Kills a component abruptly (SIGKILL), as a crash would.
    ///
    /// # Errors
    /// When it is not running or cannot be signalled.
    async fn kill(&self, component: Component) -> Result<()>;

    /// Freezes a component (SIGSTOP): it keeps its sockets but answers nothing.
    ///
    /// # Errors
    /// When it is not running or cannot be signalled.
    async fn pause(&self, component: Component) -> Result<()>;

    /// Resumes a frozen component (SIGCONT).
    ///
    /// # Errors
    /// When it is not running or cannot be signalled.
    async fn resume(&self, component: Component) -> Result<()>;

    /// Stops a component (if it runs) and starts it again, waiting until it is ready.
    ///
    /// # Errors
    /// As [`Environment::stop`] and [`Environment::start`].
    async fn restart(&self, component: Component) -> Result<()> {
        self.stop(component).await?;
        self.start(component).await
    }

    /// Stops every component it started, and nothing else.
    ///
    /// # Errors
    /// When the environment's record cannot be read or removed.
    async fn down(&self) -> Result<DownReport>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_round_trip_through_their_names() {
        for c in [Component::Redis, Component::Node(1), Component::Node(12)] {
            assert_eq!(c.to_string().parse::<Component>().unwrap(), c);
        }
        for bad in ["node-0", "node-", "node-x", "redis-1", ""] {
            assert!(bad.parse::<Component>().is_err(), "{bad}");
        }
        assert_eq!(
            serde_json::to_string(&Component::Node(2)).unwrap(),
            "\"node-2\""
        );
    }

    #[test]
    fn node_addresses_are_host_port() {
        let e = Endpoints {
            redis_url: "redis://127.0.0.1:1".into(),
            nodes: vec![
                "http://127.0.0.1:8001".into(),
                "http://127.0.0.1:8002/".into(),
            ],
            key_prefix: "ratelimit:".into(),
        };
        assert_eq!(e.node_addr(2).unwrap(), "127.0.0.1:8002");
        assert!(e.node(3).is_err() && e.node(0).is_err());
    }
}
