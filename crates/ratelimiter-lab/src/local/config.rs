//! [`StackConfig`]: what `operator stack up` starts, and where.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use ratelimiter_schema::FailureMode;

use crate::environment::Endpoints;
use crate::error::{Error, Result};
use crate::local::cluster;
use crate::local::sentinel;
use crate::ports::{self, PortMove};
use crate::secret::NodeSecrets;

/// A local stack: one `redis-server` and `node_ports.len()` `ratelimiter-node` processes on
/// 127.0.0.1. Build with [`Default`] (Redis on 6379, nodes on 8001-8003), set the binaries and the
/// state directory, then [`validate`](Self::validate).
#[derive(Debug, Clone, PartialEq)]
pub struct StackConfig {
    /// Where the state file, the logs and Redis's working directory live.
    pub state_dir: PathBuf,
    /// The `redis-server` binary.
    pub redis_server: PathBuf,
    /// The `ratelimiter-node` binary.
    pub node_bin: PathBuf,
    /// Redis's port.
    pub redis_port: u16,
    /// Run a Redis Cluster of six members on consecutive ports from `redis_port` (3 primaries
    /// with a replica each) instead of one Redis; the nodes run in cluster mode.
    pub redis_cluster: bool,
    /// Run a Redis Sentinel set instead of one Redis: a primary on `redis_port`, its replica on
    /// the next port, and three sentinels from `sentinel_port`; the nodes run in sentinel mode.
    pub redis_sentinel: bool,
    /// The first of the three sentinels' consecutive ports (`--redis sentinel`).
    pub sentinel_port: u16,
    /// The name of the primary set the sentinels watch (`--redis sentinel`).
    pub sentinel_master: String,
    /// One port per node, `node-1` first.
    pub node_ports: Vec<u16>,
    /// Redis key prefix of the nodes.
    pub key_prefix: String,
    /// What the nodes decide while Redis is down.
    pub failure_mode: FailureMode,
    /// TOML policies file seeded by the nodes (default: their built-in policy).
    pub policies: Option<PathBuf>,
    /// `RUST_LOG` of the nodes (their logs go to files in the state directory).
    pub node_log: String,
    /// Longest wait for a component to become ready.
    pub ready_timeout: Duration,
    /// Grace period between SIGTERM and SIGKILL when stopping.
    pub stop_grace: Duration,
    /// The admin token and identifier secret handed to every node through its environment
    /// (`RATELIMITER_ADMIN_TOKEN`, `RATELIMITER_IDENTIFIER_SECRET`), never its argv. Recorded in
    /// the state file (mode 0600), so restarted nodes get the same ones.
    pub secrets: NodeSecrets,
}

impl Default for StackConfig {
    fn default() -> Self {
        Self {
            state_dir: PathBuf::from(".operator-state"),
            redis_server: PathBuf::from("redis-server"),
            node_bin: PathBuf::from("ratelimiter-node"),
            redis_port: 6379,
            redis_cluster: false,
            redis_sentinel: false,
            sentinel_port: sentinel::SENTINEL_PORT,
            sentinel_master: sentinel::SENTINEL_MASTER.to_owned(),
            node_ports: vec![8001, 8002, 8003],
            key_prefix: "ratelimit:".to_owned(),
            failure_mode: FailureMode::Local,
            policies: None,
            node_log: "info".to_owned(),
            ready_timeout: Duration::from_secs(15),
            stop_grace: Duration::from_secs(5),
            secrets: NodeSecrets::default(),
        }
    }
}

impl StackConfig {
    /// Where the services of this stack answer once it is up.
    pub fn endpoints(&self) -> Endpoints {
        let mut e = Endpoints::loopback(self.redis_port, &self.node_ports, &self.key_prefix)
            .with_token(self.secrets.admin_token.clone());
        if self.redis_cluster {
            e.redis_url = cluster::seed_urls(&cluster::member_ports(self.redis_port));
        }
        if self.redis_sentinel {
            e.redis_url = sentinel::sentinel_urls(&self.sentinel_ports());
            e.sentinel_master = Some(self.sentinel_master.clone());
        }
        e
    }

    /// The sentinels' ports (`--redis sentinel`).
    pub fn sentinel_ports(&self) -> Vec<u16> {
        sentinel::run_of(self.sentinel_port, sentinel::SENTINELS)
    }

    /// The Redis ports: one, the cluster's six, or a sentinel set's primary, replica and
    /// sentinels.
    pub fn redis_ports(&self) -> Vec<u16> {
        if self.redis_cluster {
            cluster::member_ports(self.redis_port)
        } else if self.redis_sentinel {
            let mut ports = sentinel::run_of(self.redis_port, sentinel::DATA_MEMBERS);
            ports.extend(self.sentinel_ports());
            ports
        } else {
            vec![self.redis_port]
        }
    }

    /// Each port as (component, port): Redis first, then the nodes in order.
    pub fn ports(&self) -> Vec<(String, u16)> {
        std::iter::once(("redis".to_owned(), self.redis_port))
            .chain(
                self.node_ports
                    .iter()
                    .enumerate()
                    .map(|(i, p)| (format!("node-{}", i + 1), *p)),
            )
            .collect()
    }

    /// This stack with each taken port moved to a free one (the demo's way on a machine where
    /// something already listens on a default port), and the moves made.
    #[must_use]
    pub fn with_free_ports(mut self) -> (Self, Vec<PortMove>) {
        if self.redis_cluster {
            return self.with_free_cluster_ports();
        }
        if self.redis_sentinel {
            return self.with_free_sentinel_ports();
        }
        let mut ports = self.ports();
        let moves = ports::move_taken(&mut ports);
        self.redis_port = ports[0].1;
        self.node_ports = ports[1..].iter().map(|(_, p)| *p).collect();
        (self, moves)
    }

    /// [`with_free_ports`](Self::with_free_ports) for a cluster: the six members (and their bus
    /// ports) move together to the next free range, the nodes one by one away from it.
    fn with_free_cluster_ports(mut self) -> (Self, Vec<PortMove>) {
        let mut moves = Vec::new();
        if let Some(base) = cluster::free_base_from(self.redis_port, &self.node_ports)
            && base != self.redis_port
        {
            moves.push(PortMove {
                component: "redis-1..redis-6".into(),
                from: self.redis_port,
                to: base,
            });
            self.redis_port = base;
        }
        let (config, node_moves) = self.with_free_node_ports();
        moves.extend(node_moves);
        (config, moves)
    }

    /// Each node port that is taken or one of the Redis ports moved to a free one.
    fn with_free_node_ports(mut self) -> (Self, Vec<PortMove>) {
        let mut moves = Vec::new();
        let redis = self.redis_ports();
        let mut nodes: Vec<(String, u16)> = self
            .node_ports
            .iter()
            .enumerate()
            .map(|(i, p)| (format!("node-{}", i + 1), *p))
            .collect();
        for (name, port) in &mut nodes {
            if redis.contains(port) || !ports::is_free(*port) {
                let avoid: Vec<u16> = redis
                    .iter()
                    .copied()
                    .chain(self.node_ports.iter().copied())
                    .collect();
                if let Some(free) = ports::free_after(*port, &avoid) {
                    moves.push(PortMove {
                        component: name.clone(),
                        from: *port,
                        to: free,
                    });
                    *port = free;
                }
            }
        }
        self.node_ports = nodes.into_iter().map(|(_, p)| p).collect();
        (self, moves)
    }

    /// [`with_free_ports`](Self::with_free_ports) for a sentinel set: the primary and replica
    /// move together to the next free pair, the sentinels to the next free three ports, then
    /// the nodes one by one away from them (as in a cluster).
    fn with_free_sentinel_ports(mut self) -> (Self, Vec<PortMove>) {
        let mut moves = Vec::new();
        let mut avoid = self.node_ports.clone();
        avoid.extend(self.sentinel_ports());
        if let Some(base) = sentinel::free_run_from(self.redis_port, sentinel::DATA_MEMBERS, &avoid)
            && base != self.redis_port
        {
            moves.push(PortMove {
                component: "redis-1..redis-2".into(),
                from: self.redis_port,
                to: base,
            });
            self.redis_port = base;
        }
        let mut avoid = self.node_ports.clone();
        avoid.extend(sentinel::run_of(self.redis_port, sentinel::DATA_MEMBERS));
        if let Some(base) = sentinel::free_run_from(self.sentinel_port, sentinel::SENTINELS, &avoid)
            && base != self.sentinel_port
        {
            moves.push(PortMove {
                component: "sentinel-1..sentinel-3".into(),
                from: self.sentinel_port,
                to: base,
            });
            self.sentinel_port = base;
        }
        let (config, node_moves) = self.with_free_node_ports();
        moves.extend(node_moves);
        (config, moves)
    }

    /// What to pass instead of the taken `port` of `component`, naming the flag and a port free
    /// now: `pass --redis-port 6380 (free)`, `pass --node-ports 8001,8004,8003 (free)`.
    pub fn instead(&self, component: &str, port: u16) -> String {
        let mut avoid: Vec<u16> = self.ports().iter().map(|(_, p)| *p).collect();
        avoid.extend(self.redis_ports());
        if self.redis_sentinel && component.starts_with("sentinel-") {
            return sentinel::free_run_from(
                self.sentinel_port.saturating_add(1),
                sentinel::SENTINELS,
                &avoid,
            )
            .map_or_else(
                || "choose another port".to_owned(),
                |free| format!("pass --sentinel-port {free} (free)"),
            );
        }
        if self.redis_sentinel && component.starts_with("redis-") {
            return sentinel::free_run_from(
                self.redis_port.saturating_add(1),
                sentinel::DATA_MEMBERS,
                &avoid,
            )
            .map_or_else(
                || "choose another port".to_owned(),
                |free| format!("pass --redis-port {free} (free)"),
            );
        }
        let Some(free) = ports::free_after(port, &avoid) else {
            return "choose another port".to_owned();
        };
        if component == "redis" {
            return format!("pass --redis-port {free} (free)");
        }
        let list: Vec<String> = self
            .node_ports
            .iter()
            .map(|p| if *p == port { free } else { *p }.to_string())
            .collect();
        format!("pass --node-ports {} (free)", list.join(","))
    }

    /// Node ports `base`, `base + 1`, ... for `n` nodes.
    ///
    /// # Errors
    /// [`Error::Config`] when they would pass 65535.
    pub fn ports_from(base: u16, n: usize) -> Result<Vec<u16>> {
        (0..n)
            .map(|i| {
                u16::try_from(i)
                    .ok()
                    .and_then(|i| base.checked_add(i))
                    .ok_or_else(|| Error::Config(format!("node ports from {base}: past 65535")))
            })
            .collect()
    }

    /// Checks every setting that can be checked without starting anything.
    ///
    /// # Errors
    /// [`Error::Config`] naming the bad setting.
    pub fn validate(&self) -> Result<()> {
        if self.node_ports.is_empty() {
            return Err(Error::Config("at least one node port is needed".into()));
        }
        let mut seen = BTreeSet::new();
        if self.redis_cluster && self.redis_sentinel {
            return Err(Error::Config(
                "a stack runs either a Redis Cluster or a Sentinel set, not both".into(),
            ));
        }
        if self.redis_sentinel
            && (sentinel::run_of(self.redis_port, sentinel::DATA_MEMBERS).len() < 2
                || self.sentinel_ports().len() < 3)
        {
            return Err(Error::Config(format!(
                "redis port {} and sentinel port {}: a sentinel set needs two consecutive ports                  and three consecutive sentinel ports below 65536",
                self.redis_port, self.sentinel_port
            )));
        }
        if self.redis_sentinel {
            sentinel::validate_master_name(&self.sentinel_master)?;
        }
        if self.redis_cluster && cluster::member_ports(self.redis_port).len() < 6 {
            return Err(Error::Config(format!(
                "redis port {}: a cluster needs six consecutive ports (and each + 10000) below 65536",
                self.redis_port
            )));
        }
        for port in self
            .redis_ports()
            .into_iter()
            .chain(self.node_ports.iter().copied())
        {
            if port == 0 {
                return Err(Error::Config("port 0 is not a fixed port".into()));
            }
            if !seen.insert(port) {
                return Err(Error::Config(format!("port {port} is given twice")));
            }
        }
        ratelimiter_schema::keys::validate_prefix(&self.key_prefix)
            .map_err(|e| Error::Config(format!("key prefix: {e}")))?;
        if let Some(p) = &self.policies
            && !p.is_file()
        {
            return Err(Error::Config(format!(
                "policies file {} does not exist",
                p.display()
            )));
        }
        if self.ready_timeout.is_zero() {
            return Err(Error::Config("ready timeout must be positive".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_clashes_are_named() {
        StackConfig::default().validate().unwrap();
        let c = StackConfig {
            node_ports: vec![8001, 6379],
            ..StackConfig::default()
        };
        assert!(c.validate().unwrap_err().to_string().contains("6379"));
        let c = StackConfig {
            node_ports: vec![],
            ..StackConfig::default()
        };
        assert!(c.validate().is_err());
        assert_eq!(
            StackConfig::ports_from(9000, 3).unwrap(),
            [9000, 9001, 9002]
        );
        assert!(StackConfig::ports_from(65535, 2).is_err());
    }
}
