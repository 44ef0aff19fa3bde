//! [`ComposeConfig`]: which compose file and project to run, on which host ports, with which
//! images.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use ratelimiter_schema::FailureMode;

use crate::error::{Error, Result};
use crate::secret::NodeSecrets;

/// The variables of `docker-compose.ratelimit.yml` that name images (and the build's base
/// images), plus `LB_BIND`. The CLI passes on those set in its own environment; they are
/// recorded, so that later commands run compose with the same ones.
pub const IMAGE_VARIABLES: [&str; 8] = [
    "RATELIMITER_IMAGE",
    "REDIS_IMAGE",
    "NGINX_IMAGE",
    "PROMETHEUS_IMAGE",
    "GRAFANA_IMAGE",
    "RUST_IMAGE",
    "RUNTIME_IMAGE",
    "LB_BIND",
];

/// The services a machine without a registry can run with locally built images: Redis, the
/// three nodes and the load balancer (no Prometheus, no Grafana).
pub const CORE_SERVICES: [&str; 5] = [
    "redis",
    "ratelimiter-1",
    "ratelimiter-2",
    "ratelimiter-3",
    "lb",
];

/// The number of rate-limiter services in the compose file.
pub const NODES: usize = 3;

/// The volume holding Redis's append-only file, as the compose file names it.
pub const REDIS_VOLUME: &str = "redis-data";

/// A compose stack of the rate limiter. Build with [`Default`] (the repository's
/// `docker-compose.ratelimit.yml` in the working directory, project `operator`, the file's
/// default ports), then [`validate`](Self::validate).
#[derive(Debug, Clone, PartialEq)]
pub struct ComposeConfig {
    /// Where the record of the stack (`compose.json`) lives.
    pub state_dir: PathBuf,
    /// The compose file.
    pub file: PathBuf,
    /// The compose project name (lowercase letters, digits, `-` and `_`).
    pub project: String,
    /// Redis's host port (`REDIS_PORT`).
    pub redis_port: u16,
    /// The nodes' host ports (`NODE1_PORT`..`NODE3_PORT`), three of them.
    pub node_ports: Vec<u16>,
    /// The load balancer's host port (`LB_PORT`).
    pub lb_port: u16,
    /// Prometheus's host port (`PROMETHEUS_PORT`).
    pub prometheus_port: u16,
    /// Grafana's host port (`GRAFANA_PORT`).
    pub grafana_port: u16,
    /// What the nodes decide while Redis is down (`RATELIMITER_FAILURE_MODE`).
    pub failure_mode: FailureMode,
    /// Further variables for compose, e.g. `REDIS_IMAGE` (see [`IMAGE_VARIABLES`]).
    pub variables: BTreeMap<String, String>,
    /// Build the node image (`up --build`) instead of using the one named by
    /// `RATELIMITER_IMAGE` as it is.
    pub build: bool,
    /// Start only [`CORE_SERVICES`] instead of every service.
    pub core_only: bool,
    /// Longest wait for a component to become ready (images may be pulled or built meanwhile
    /// during `up`; this bounds each later start).
    pub ready_timeout: Duration,
    /// Grace period of `stop` before SIGKILL.
    pub stop_timeout: Duration,
    /// The nodes' admin token and identifier secret (`RATELIMITER_ADMIN_TOKEN`,
    /// `RATELIMITER_IDENTIFIER_SECRET`), handed to compose through its environment and recorded
    /// in the state file (mode 0600), so later commands interpolate the file the same way.
    pub secrets: NodeSecrets,
}

impl Default for ComposeConfig {
    fn default() -> Self {
        Self {
            state_dir: PathBuf::from(".operator-state"),
            file: PathBuf::from("docker-compose.ratelimit.yml"),
            project: "operator".to_owned(),
            redis_port: 6379,
            node_ports: vec![8001, 8002, 8003],
            lb_port: 8080,
            prometheus_port: 9091,
            grafana_port: 3001,
            failure_mode: FailureMode::Local,
            variables: BTreeMap::new(),
            build: false,
            core_only: false,
            ready_timeout: Duration::from_secs(60),
            stop_timeout: Duration::from_secs(5),
            secrets: NodeSecrets::default(),
        }
    }
}

impl ComposeConfig {
    /// The services `up` starts; empty means every service of the file.
    pub fn services(&self) -> Vec<String> {
        if self.core_only {
            CORE_SERVICES.iter().map(|s| (*s).to_owned()).collect()
        } else {
            Vec::new()
        }
    }

    /// Every host port the started services publish, with the service that publishes it.
    pub fn published(&self) -> Vec<(String, u16)> {
        let mut out = vec![("redis".to_owned(), self.redis_port)];
        for (i, p) in self.node_ports.iter().enumerate() {
            out.push((format!("ratelimiter-{}", i + 1), *p));
        }
        out.push(("lb".to_owned(), self.lb_port));
        if !self.core_only {
            out.push(("prometheus".to_owned(), self.prometheus_port));
            out.push(("grafana".to_owned(), self.grafana_port));
        }
        out
    }

    /// What to pass instead of the taken `port` of `service`, naming the flag and a port free
    /// now: `pass --redis-port 6380 (free)`, `pass --lb-port 8081 (free)`.
    pub fn instead(&self, service: &str, port: u16) -> String {
        let avoid: Vec<u16> = self.published().iter().map(|(_, p)| *p).collect();
        let Some(free) = crate::ports::free_after(port, &avoid) else {
            return "choose another port".to_owned();
        };
        let flag = match service {
            "redis" => "--redis-port",
            "lb" => "--lb-port",
            "prometheus" => "--prometheus-port",
            "grafana" => "--grafana-port",
            _ => {
                let list: Vec<String> = self
                    .node_ports
                    .iter()
                    .map(|p| if *p == port { free } else { *p }.to_string())
                    .collect();
                return format!("pass --node-ports {} (free)", list.join(","));
            }
        };
        format!("pass {flag} {free} (free)")
    }

    /// The variables compose runs with: the ports, the failure mode, and [`Self::variables`].
    pub fn environment(&self) -> BTreeMap<String, String> {
        let mut vars = self.variables.clone();
        vars.insert("REDIS_PORT".into(), self.redis_port.to_string());
        for (i, p) in self.node_ports.iter().enumerate() {
            vars.insert(format!("NODE{}_PORT", i + 1), p.to_string());
        }
        vars.insert("LB_PORT".into(), self.lb_port.to_string());
        vars.insert("PROMETHEUS_PORT".into(), self.prometheus_port.to_string());
        vars.insert("GRAFANA_PORT".into(), self.grafana_port.to_string());
        vars.insert(
            "RATELIMITER_FAILURE_MODE".into(),
            self.failure_mode.as_str().to_owned(),
        );
        vars
    }

    /// Checks every setting that can be checked without running anything.
    ///
    /// # Errors
    /// [`Error::Config`] naming the bad setting.
    pub fn validate(&self) -> Result<()> {
        if self.node_ports.len() != NODES {
            return Err(Error::Config(format!(
                "the compose file runs {NODES} nodes: give {NODES} node ports, not {}",
                self.node_ports.len()
            )));
        }
        let mut seen = BTreeSet::new();
        for (service, port) in self.published() {
            if port == 0 {
                return Err(Error::Config(format!(
                    "port 0 ({service}) is not a fixed port"
                )));
            }
            if !seen.insert(port) {
                return Err(Error::Config(format!("port {port} is given twice")));
            }
        }
        if !valid_project(&self.project) {
            return Err(Error::Config(format!(
                "compose project {:?}: lowercase letters, digits, '-' and '_', starting with a letter or digit",
                self.project
            )));
        }
        if !self.file.is_file() {
            return Err(Error::Config(format!(
                "compose file {} does not exist (run from the repository's root, or give its path)",
                self.file.display()
            )));
        }
        if let Some(k) = self.variables.keys().find(|k| !valid_variable(k)) {
            return Err(Error::Config(format!("variable name {k:?}")));
        }
        if self.ready_timeout.is_zero() {
            return Err(Error::Config("ready timeout must be positive".into()));
        }
        Ok(())
    }
}

/// What both Compose v1 and v2 accept unchanged as a project name.
fn valid_project(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

fn valid_variable(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ComposeConfig {
        ComposeConfig {
            file: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"),
            ..ComposeConfig::default()
        }
    }

    #[test]
    fn a_taken_port_gets_a_free_alternative_under_its_flag() {
        let c = config();
        let lb = c.instead("lb", 8080);
        let port: u16 = lb
            .strip_prefix("pass --lb-port ")
            .and_then(|r| r.strip_suffix(" (free)"))
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("{lb}"));
        assert!(port > 8080 && !c.published().iter().any(|(_, p)| *p == port));
        let nodes = c.instead("ratelimiter-2", 8002);
        assert!(
            nodes.starts_with("pass --node-ports 8001,") && nodes.ends_with(",8003 (free)"),
            "{nodes}"
        );
        assert!(c.instead("redis", 6379).starts_with("pass --redis-port "));
    }

    #[test]
    fn defaults_are_the_compose_files_and_clashes_are_named() {
        config().validate().unwrap();
        let vars = config().environment();
        assert_eq!(vars["REDIS_PORT"], "6379");
        assert_eq!(vars["NODE3_PORT"], "8003");
        assert_eq!(vars["LB_PORT"], "8080");
        assert_eq!(vars["PROMETHEUS_PORT"], "9091");
        assert_eq!(vars["RATELIMITER_FAILURE_MODE"], "local");
        assert!(config().services().is_empty());
        let core = ComposeConfig {
            core_only: true,
            ..config()
        };
        assert_eq!(core.services(), CORE_SERVICES);
        assert_eq!(core.published().len(), 5);

        let clash = ComposeConfig {
            lb_port: 8002,
            ..config()
        };
        assert!(clash.validate().unwrap_err().to_string().contains("8002"));
        let two = ComposeConfig {
            node_ports: vec![1, 2],
            ..config()
        };
        assert!(
            two.validate()
                .unwrap_err()
                .to_string()
                .contains("3 node ports")
        );
        for bad in ["", "Operator", "-x", "a b", "a.b"] {
            let c = ComposeConfig {
                project: bad.into(),
                ..config()
            };
            assert!(c.validate().is_err(), "{bad:?}");
        }
        for good in ["operator", "operator-demo", "ops_1", "1x"] {
            let c = ComposeConfig {
                project: good.into(),
                ..config()
            };
            c.validate().unwrap();
        }
        let missing = ComposeConfig {
            file: "/nonexistent/compose.yml".into(),
            ..config()
        };
        assert!(
            missing
                .validate()
                .unwrap_err()
                .to_string()
                .contains("does not exist")
        );
    }
}
