//! The record of a compose stack: what `operator stack up --env compose` ran, so that later
//! commands (`status`, `chaos`, `down`, the monitor's hints) act on the same project with the
//! same file, ports and images without repeating a flag.
//!
//! `<state dir>/compose.json`, beside a local stack's `stack.json`, written atomically:
//!
//! ```json
//! { "format": 1, "environment": "compose", "subject": "ratelimit", "created_at": "...",
//!   "file": "/repo/docker-compose.ratelimit.yml", "project": "operator",
//!   "command": ["docker-compose"], "services": ["redis", "ratelimiter-1", ...],
//!   "variables": { "REDIS_PORT": "6379", "REDIS_IMAGE": "...", ... },
//!   "redis_port": 6379, "node_ports": [8001, 8002, 8003], "key_prefix": "ratelimit:" }
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::environment::{Component, Endpoints};
use crate::secret::NodeSecrets;

/// Version of the compose state file format.
pub const COMPOSE_STATE_FORMAT: u32 = 1;
/// Name of the compose state file in the state directory.
pub const COMPOSE_STATE_FILE: &str = "compose.json";

/// What a compose stack runs, as `up` recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComposeState {
    /// [`COMPOSE_STATE_FORMAT`].
    pub format: u32,
    /// Always `compose`.
    pub environment: String,
    /// The subject the stack serves (`ratelimit`).
    pub subject: String,
    /// When `up` started.
    pub created_at: DateTime<Utc>,
    /// The compose file, absolute.
    pub file: PathBuf,
    /// The compose project name.
    pub project: String,
    /// The compose command: `["docker", "compose"]` or `["docker-compose"]`.
    pub command: Vec<String>,
    /// The services `up` started (every service of the file when empty).
    pub services: Vec<String>,
    /// The variables every compose command runs with (ports, images, failure mode).
    pub variables: BTreeMap<String, String>,
    /// Redis's host port.
    pub redis_port: u16,
    /// The nodes' host ports, `ratelimiter-1` first.
    pub node_ports: Vec<u16>,
    /// The nodes' key prefix.
    pub key_prefix: String,
    /// The nodes' admin token and identifier secret (the file is mode 0600 for them).
    #[serde(default)]
    pub secrets: NodeSecrets,
}

impl ComposeState {
    /// Where the services answer on the host.
    pub fn endpoints(&self) -> Endpoints {
        Endpoints::loopback(self.redis_port, &self.node_ports, &self.key_prefix)
            .with_token(self.secrets.admin_token.clone())
    }

    /// Its components: Redis, then the nodes in order.
    pub(crate) fn components(&self) -> Vec<Component> {
        std::iter::once(Component::Redis)
            .chain((1..=self.node_ports.len()).map(Component::Node))
            .collect()
    }
}

impl crate::state_file::StateFile for ComposeState {
    const FILE: &'static str = COMPOSE_STATE_FILE;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StateFile;

    #[test]
    fn state_round_trips_and_gives_host_endpoints() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(ComposeState::load(dir.path()).unwrap(), None);
        let state = ComposeState {
            format: COMPOSE_STATE_FORMAT,
            environment: "compose".into(),
            subject: "ratelimit".into(),
            created_at: Utc::now(),
            file: "/repo/docker-compose.ratelimit.yml".into(),
            project: "operator".into(),
            command: vec!["docker-compose".into()],
            services: vec!["redis".into()],
            variables: BTreeMap::from([("REDIS_PORT".into(), "7000".into())]),
            redis_port: 7000,
            node_ports: vec![7001, 7002, 7003],
            key_prefix: "ratelimit:".into(),
            secrets: NodeSecrets::random().unwrap(),
        };
        state.save(dir.path()).unwrap();
        let back = ComposeState::load(dir.path()).unwrap().unwrap();
        assert_eq!(back, state);
        // It holds the secrets: readable by its owner only.
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(ComposeState::path(dir.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let e = back.endpoints();
        assert_eq!(e.redis_url, "redis://127.0.0.1:7000");
        assert_eq!(e.node_addr(3).unwrap(), "127.0.0.1:7003");
        ComposeState::remove(dir.path()).unwrap();
        assert_eq!(ComposeState::load(dir.path()).unwrap(), None);
    }
}
