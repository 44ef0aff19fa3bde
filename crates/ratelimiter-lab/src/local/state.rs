//! The state file: what a local stack started, so that later commands (`status`, `chaos`,
//! `down`) act on exactly those processes.
//!
//! `<state dir>/stack.json`, written atomically (temporary file, then rename) after every change:
//!
//! ```json
//! { "format": 1, "environment": "local", "subject": "ratelimit", "created_at": "...",
//!   "key_prefix": "ratelimit:", "failure_mode": "local",
//!   "components": [ { "component": "redis", "port": 6379, "pid": 4242, "start_ticks": 123456,
//!                     "started_at": "...", "program": "/usr/bin/redis-server",
//!                     "args": ["--port", "6379", ...], "log": ".../logs/redis.log" }, ... ] }
//! ```
//!
//! A component restarted with other flags (`"overrides": {"node-2": [["--key-prefix",
//! "other:"]]}`) keeps its usual `args`: the overrides are applied when it is spawned, and
//! dropped by the next plain start.
//!
//! `start_ticks` is the process start time from `/proc/<pid>/stat`: a pid is only signalled when
//! it still belongs to the process that was started (pids are reused).

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::environment::{Component, Endpoints};
use crate::error::{Error, Result};
use crate::secret::NodeSecrets;

/// Version of the state file format.
pub const STATE_FORMAT: u32 = 1;
/// Name of the state file in the state directory.
pub const STATE_FILE: &str = "stack.json";

/// Everything a local stack started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackState {
    /// [`STATE_FORMAT`].
    pub format: u32,
    /// Always `local`.
    pub environment: String,
    /// The subject the stack serves (`ratelimit`).
    pub subject: String,
    /// When `up` started.
    pub created_at: DateTime<Utc>,
    /// Key prefix of the nodes.
    pub key_prefix: String,
    /// Failure mode of the nodes.
    pub failure_mode: String,
    /// Redis first, then the nodes in order.
    pub components: Vec<ProcessRecord>,
    /// What every node gets in its environment (the file is mode 0600 for them).
    #[serde(default)]
    pub secrets: NodeSecrets,
    /// On a sentinel stack (`--redis sentinel`), the name of the primary set its sentinels
    /// watch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentinel_master: Option<String>,
    /// Flags a component runs with over its recorded `args`, by component
    /// ([`Environment::restart_with`](crate::Environment::restart_with)); absent when every
    /// component runs with its usual flags.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub overrides: BTreeMap<Component, Vec<(String, String)>>,
}

/// One started process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessRecord {
    /// Which component it is.
    pub component: Component,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Its pid, once started.
    pub pid: Option<u32>,
    /// Its start time in clock ticks since boot (`/proc/<pid>/stat` field 22), its identity.
    pub start_ticks: Option<u64>,
    /// When it was started.
    pub started_at: Option<DateTime<Utc>>,
    /// The program.
    pub program: PathBuf,
    /// Its arguments, so it can be started again identically.
    pub args: Vec<String>,
    /// Its stdout and stderr.
    pub log: PathBuf,
}

impl StackState {
    /// The record of `component`.
    pub fn record(&self, component: Component) -> Option<&ProcessRecord> {
        self.components.iter().find(|r| r.component == component)
    }

    pub(crate) fn record_mut(&mut self, component: Component) -> Result<&mut ProcessRecord> {
        self.components
            .iter_mut()
            .find(|r| r.component == component)
            .ok_or_else(|| Error::UnknownComponent(component.to_string()))
    }

    /// Where the services answer.
    pub fn endpoints(&self) -> Endpoints {
        let redis = self.record(Component::Redis).map_or(0, |r| r.port);
        let nodes: Vec<u16> = self
            .components
            .iter()
            .filter(|r| matches!(r.component, Component::Node(_)))
            .map(|r| r.port)
            .collect();
        let members: Vec<u16> = self
            .components
            .iter()
            .filter(|r| matches!(r.component, Component::RedisMember(_)))
            .map(|r| r.port)
            .collect();
        let mut e = Endpoints::loopback(redis, &nodes, &self.key_prefix)
            .with_token(self.secrets.admin_token.clone());
        let sentinels: Vec<u16> = self
            .components
            .iter()
            .filter(|r| matches!(r.component, Component::Sentinel(_)))
            .map(|r| r.port)
            .collect();
        if let Some(master) = &self.sentinel_master {
            e.redis_url = crate::local::sentinel::sentinel_urls(&sentinels);
            e.sentinel_master = Some(master.clone());
        } else if !members.is_empty() {
            e.redis_url = crate::local::cluster::seed_urls(&members);
        }
        e
    }
}

impl crate::state_file::StateFile for StackState {
    const FILE: &'static str = STATE_FILE;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StateFile;

    #[test]
    fn state_round_trips_and_gives_endpoints() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(StackState::load(dir.path()).unwrap(), None);
        let rec = |component, port| ProcessRecord {
            component,
            port,
            pid: Some(1),
            start_ticks: Some(2),
            started_at: None,
            program: "p".into(),
            args: vec![],
            log: "l".into(),
        };
        let state = StackState {
            format: STATE_FORMAT,
            environment: "local".into(),
            subject: "ratelimit".into(),
            created_at: Utc::now(),
            key_prefix: "ratelimit:".into(),
            failure_mode: "local".into(),
            components: vec![
                rec(Component::Redis, 7000),
                rec(Component::Node(1), 7001),
                rec(Component::Node(2), 7002),
            ],
            secrets: NodeSecrets::default(),
            sentinel_master: None,
            overrides: BTreeMap::from([(
                Component::Node(2),
                vec![("--key-prefix".to_owned(), "other:".to_owned())],
            )]),
        };
        state.save(dir.path()).unwrap();
        let back = StackState::load(dir.path()).unwrap().unwrap();
        assert_eq!(back, state);
        let e = back.endpoints();
        assert_eq!(e.redis_url, "redis://127.0.0.1:7000");
        assert_eq!(e.nodes, ["http://127.0.0.1:7001", "http://127.0.0.1:7002"]);
        StackState::remove(dir.path()).unwrap();
        assert_eq!(StackState::load(dir.path()).unwrap(), None);
    }
}
