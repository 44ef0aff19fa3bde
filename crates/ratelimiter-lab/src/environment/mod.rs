//! The environment abstraction: named components that can be started, stopped, killed, paused
//! and resumed, whatever runs them.
//!
//! [`LocalEnv`](crate::LocalEnv) runs them as local processes; [`ComposeEnv`](crate::ComposeEnv)
//! maps the same verbs to `docker compose start/stop/kill/pause/unpause` on the services `redis`
//! and `ratelimiter-N`. Chaos faults and the demo only speak this trait, so they work on either.
//!
//! Some verbs only make sense where the components have a network of their own
//! ([`Environment::disconnect`], [`Environment::reconnect`]): their default bodies say that the
//! environment does not support them.

mod kind;

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::secret::Secret;

pub use self::kind::EnvKind;

/// One part of the rate-limiter stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Component {
    /// The Redis server.
    Redis,
    /// A rate-limiter node, numbered from 1.
    Node(usize),
    /// A member of a Redis Cluster (`--redis cluster`), numbered from 1 by port.
    RedisMember(usize),
    /// A Redis Sentinel watching the primary of a sentinel stack (`--redis sentinel`),
    /// numbered from 1 by port.
    Sentinel(usize),
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Component::Redis => f.write_str("redis"),
            Component::Node(n) => write!(f, "node-{n}"),
            Component::RedisMember(n) => write!(f, "redis-{n}"),
            Component::Sentinel(n) => write!(f, "sentinel-{n}"),
        }
    }
}

impl FromStr for Component {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        if s == "redis" {
            return Ok(Component::Redis);
        }
        let numbered = |prefix: &str| {
            s.strip_prefix(prefix)
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|n| *n >= 1)
        };
        numbered("node-")
            .map(Component::Node)
            .or_else(|| numbered("redis-").map(Component::RedisMember))
            .or_else(|| numbered("sentinel-").map(Component::Sentinel))
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
    /// The nodes' admin token, for `Authorization: Bearer` on their `/v1/*` endpoints; never
    /// serialized (a printed endpoint list shows no secret).
    #[serde(skip)]
    pub node_token: Option<Secret>,
    /// On a sentinel stack, the primary set the sentinels watch: `redis_url` then lists the
    /// sentinels (the nodes and the monitor need `--redis-mode sentinel --sentinel-master`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentinel_master: Option<String>,
}

impl Endpoints {
    /// The endpoints of a stack whose ports are published on 127.0.0.1.
    pub fn loopback(redis_port: u16, node_ports: &[u16], key_prefix: &str) -> Self {
        Self {
            redis_url: format!("redis://127.0.0.1:{redis_port}"),
            nodes: node_ports
                .iter()
                .map(|p| format!("http://127.0.0.1:{p}"))
                .collect(),
            key_prefix: key_prefix.to_owned(),
            node_token: None,
            sentinel_master: None,
        }
    }

    /// Whether Redis is a cluster: `redis_url` lists several seed URLs (the nodes and the
    /// monitor then need `--redis-mode cluster`).
    pub fn redis_is_cluster(&self) -> bool {
        self.redis_url.contains(',') && self.sentinel_master.is_none()
    }

    /// These endpoints, with the nodes' admin token.
    #[must_use]
    pub fn with_token(mut self, token: Option<Secret>) -> Self {
        self.node_token = token;
        self
    }

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
    /// Its process id, in environments that run processes.
    pub pid: Option<u32>,
    /// Its container's name, in environments that run containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
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
    /// What the environment still holds of the stack afterwards (containers, networks, volumes;
    /// should be empty).
    #[serde(default)]
    pub left_behind: Vec<String>,
}

impl DownReport {
    /// Whether nothing of the stack is left: no port open, nothing left behind.
    pub fn clean(&self) -> bool {
        self.ports_still_open.is_empty() && self.left_behind.is_empty()
    }
}

/// How the `pause-redis` fault freezes Redis in an environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PauseStyle {
    /// `CLIENT PAUSE ... ALL`: Redis accepts connections but holds every command, and lifts the
    /// pause by itself, even when whoever paused it is gone.
    ClientPause,
    /// [`Environment::pause`], then [`Environment::resume`] when the duration ends: the whole
    /// component is frozen (`docker pause`) until it is resumed.
    Freeze,
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

    /// Stops a component and starts it again without its data, as a crash of a server without
    /// persistence would leave it; waits until it is ready. Returns what was done, for a fault's
    /// report.
    ///
    /// The default is [`Environment::restart`], for environments whose components keep no data
    /// across a restart (see [`Environment::keeps_data`]).
    ///
    /// # Errors
    /// As [`Environment::restart`].
    async fn restart_empty(&self, component: Component) -> Result<String> {
        self.restart(component).await?;
        Ok(format!(
            "stopped {component} and started it again; in the {} environment it keeps no data",
            self.kind()
        ))
    }

    /// Whether a component started again after a kill or a stop still holds its data (e.g. a
    /// Redis with an append-only file on a volume).
    fn keeps_data(&self, _component: Component) -> bool {
        false
    }

    /// How `pause-redis` freezes Redis here.
    fn redis_pause_style(&self) -> PauseStyle {
        PauseStyle::ClientPause
    }

    /// Cuts a component off the network its peers reach it on (a partition): it keeps running
    /// but neither its peers nor, where its port is published from that network, the host can
    /// reach it. Waits until it took effect.
    ///
    /// # Errors
    /// [`Error::Unsupported`] by default: only environments with a network of their own can.
    async fn disconnect(&self, component: Component) -> Result<()> {
        let _ = component;
        Err(Error::Unsupported {
            verb: "disconnect",
            environment: self.kind(),
        })
    }

    /// Joins a disconnected component to its network again, under its usual name. A component
    /// that is connected is left alone.
    ///
    /// # Errors
    /// [`Error::Unsupported`] by default, as [`Environment::disconnect`].
    async fn reconnect(&self, component: Component) -> Result<()> {
        let _ = component;
        Err(Error::Unsupported {
            verb: "reconnect",
            environment: self.kind(),
        })
    }

    /// Restarts a component with `overrides` over its usual command-line flags: each
    /// `(flag, value)` replaces that flag's value, or is added when the component has no such
    /// flag (e.g. `[("--key-prefix", "other:")]`). The overrides are recorded with the stack
    /// ([`Environment::overrides`], shown by `status`); a later plain start (`start`, the undo of
    /// `kill-node`, `restart-node`) goes back to the usual flags, as does `restart_with(c, &[])`.
    /// Waits until the component is ready again.
    ///
    /// # Errors
    /// [`Error::LocalOnly`] by default: only environments that start the processes themselves
    /// can change their flags; otherwise as [`Environment::stop`] and [`Environment::start`].
    async fn restart_with(&self, component: Component, overrides: &[(&str, &str)]) -> Result<()> {
        let _ = overrides;
        Err(Error::LocalOnly {
            what: format!(
                "restarting {component} with other flags (only a local stack starts its processes itself)"
            ),
            environment: self.kind(),
        })
    }

    /// The flags a component runs with over its usual ones, as [`Environment::restart_with`]
    /// recorded them: empty when it runs with its usual flags (always, by default).
    fn overrides(&self, component: Component) -> Vec<(String, String)> {
        let _ = component;
        Vec::new()
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
        for c in [
            Component::Redis,
            Component::Node(1),
            Component::Node(12),
            Component::RedisMember(3),
            Component::Sentinel(2),
        ] {
            assert_eq!(c.to_string().parse::<Component>().unwrap(), c);
        }
        for bad in ["node-0", "node-", "node-x", "redis-0", "redis-", ""] {
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
            node_token: None,
            sentinel_master: None,
        };
        assert_eq!(e.node_addr(2).unwrap(), "127.0.0.1:8002");
        assert!(e.node(3).is_err() && e.node(0).is_err());
    }
}
