//! The flags that say which stack: its subject, its state directory, its ports, failure mode
//! and policies, and the binaries a local stack runs.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use ratelimiter_lab::binaries::{self, REDIS_INSTALL_COMMAND};
use ratelimiter_lab::secret::{ADMIN_TOKEN_VAR, IDENTIFIER_SECRET_VAR};
use ratelimiter_lab::{NodeSecrets, Secret, StackConfig};
use ratelimiter_schema::FailureMode;

use crate::args::default_text;
use crate::exit::CliError;

/// The subjects a stack can run (`stack up`, `chaos`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StackSubject {
    /// Redis and three ratelimiter-node processes.
    Ratelimit,
}

/// `--redis`: one Redis or a Redis Cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RedisKind {
    /// One redis-server.
    Single,
    /// A Redis Cluster of six local redis-server processes (3 primaries + 3 replicas).
    Cluster,
    /// A primary, its replica and three Redis Sentinels (quorum 2), local processes.
    Sentinel,
}

/// The first Redis port of a cluster stack by default: members on 7000-7005.
pub const CLUSTER_REDIS_PORT: u16 = 7000;

/// `--state-dir`.
#[derive(Debug, Clone, Args)]
pub struct StateDirArgs {
    /// Where the stack's state file and logs live [default: <state dir>/operator/stack]
    #[arg(long, env = "OPERATOR_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

/// What a local stack runs, shared by `stack up` and `demo`.
#[derive(Debug, Clone, Args)]
pub struct StackArgs {
    /// What Redis the stack runs: `single` (one redis-server), `cluster` (a Redis Cluster of 3
    /// primaries + 3 replicas, local processes joined by `redis-cli --cluster create`, fast
    /// failover: cluster-node-timeout 2000 ms; the nodes run with `--redis-mode cluster`) or
    /// `sentinel` (a primary on --redis-port, its replica on the next port, three sentinels from
    /// --sentinel-port watching the primary set `ratelimit` with quorum 2 and
    /// down-after-milliseconds 2000; the nodes run with `--redis-mode sentinel --sentinel-master
    /// ratelimit`).
    #[arg(long = "redis", value_enum, default_value_t = RedisKind::Single, value_name = "KIND")]
    pub redis: RedisKind,
    /// Redis port on 127.0.0.1 [default: 6379; with --redis cluster 7000, the first of six
    /// consecutive ports 7000-7005, each also binding its port + 10000 for the cluster bus; with
    /// --redis sentinel the primary's port, its replica on the next]
    #[arg(long, value_name = "PORT")]
    pub redis_port: Option<u16>,
    /// With --redis sentinel: the first of the three sentinels' consecutive ports on 127.0.0.1
    #[arg(long, default_value_t = StackConfig::default().sentinel_port, value_name = "PORT")]
    pub sentinel_port: u16,
    /// Node ports on 127.0.0.1, comma-separated: one node per port.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = default_text::list(&StackConfig::default().node_ports),
        value_name = "PORT,PORT,..."
    )]
    pub node_ports: Vec<u16>,
    /// First of three consecutive node ports (instead of --node-ports).
    #[arg(long, conflicts_with = "node_ports", value_name = "PORT")]
    pub node_base_port: Option<u16>,
    /// What the nodes decide while Redis is down: open, closed or local.
    #[arg(long, default_value_t = StackConfig::default().failure_mode, value_name = "MODE")]
    pub failure_mode: FailureMode,
    /// TOML policies file the nodes seed into Redis [default: their built-in 100/s policy]
    #[arg(long, value_name = "FILE")]
    pub policies: Option<PathBuf>,
}

/// `<user state dir>/operator/<name>`.
pub fn default_state_dir(name: &str) -> PathBuf {
    directories::ProjectDirs::from("", "", "operator").map_or_else(
        || PathBuf::from(".operator-state").join(name),
        |d| {
            d.state_dir()
                .unwrap_or_else(|| d.data_local_dir())
                .join(name)
        },
    )
}

impl StateDirArgs {
    /// `--state-dir`, else `<user state dir>/operator/<name>`.
    pub fn resolve(&self, name: &str) -> PathBuf {
        self.state_dir
            .clone()
            .unwrap_or_else(|| default_state_dir(name))
    }
}

/// `redis-server` (`$REDIS_SERVER_BIN`, else on `PATH`, else installed with apt-get when this
/// runs as root) and `ratelimiter-node` (beside this executable, else on `PATH`).
///
/// # Errors
/// A failure naming the missing binary and how to get it.
pub fn binaries() -> Result<(PathBuf, PathBuf), CliError> {
    let path = std::env::var_os("PATH");
    let exe = std::env::current_exe().ok();
    let beside = exe.as_deref().and_then(Path::parent);
    let node = binaries::locate("ratelimiter-node", beside, path.as_deref()).ok_or_else(|| {
        CliError::Failed(anyhow::anyhow!(
            "ratelimiter-node is neither beside {} nor on PATH: build it with `cargo build --release` \
             (it is part of this workspace)",
            beside.map_or_else(|| "this executable".to_owned(), |b| b.display().to_string())
        ))
    })?;
    let redis = match std::env::var_os("REDIS_SERVER_BIN") {
        Some(p) => PathBuf::from(p),
        None => match binaries::on_path("redis-server", path.as_deref()) {
            Some(p) => p,
            None => {
                let apt = binaries::redis_installer(path.as_deref())
                    .map_err(|m| CliError::Failed(anyhow::anyhow!(m)))?;
                eprintln!(
                    "operator: redis-server is not on PATH: installing it with `apt-get install -y redis-server` \
                     (running as root; by hand: `{REDIS_INSTALL_COMMAND}`)"
                );
                binaries::install_redis_server(&apt, path.as_deref())
                    .map_err(|m| CliError::Failed(anyhow::anyhow!(m)))?
            }
        },
    };
    Ok((redis, node))
}

/// The nodes' admin token and identifier secret from this process's environment
/// (`RATELIMITER_ADMIN_TOKEN`, `RATELIMITER_IDENTIFIER_SECRET`), each when set and not empty.
pub fn secrets_from_env() -> NodeSecrets {
    let var = |name| {
        std::env::var(name)
            .ok()
            .filter(|v| !v.is_empty())
            .map(Secret::new)
    };
    NodeSecrets {
        admin_token: var(ADMIN_TOKEN_VAR),
        identifier_secret: var(IDENTIFIER_SECRET_VAR),
    }
}

/// The environment's secrets, each one missing generated at random (compose: the file requires
/// both).
///
/// # Errors
/// When no random bytes can be read.
pub fn secrets_from_env_or_random() -> Result<NodeSecrets, CliError> {
    let mut secrets = secrets_from_env();
    let random = |s: &mut Option<Secret>| -> Result<(), CliError> {
        if s.is_none() {
            *s = Some(Secret::random()?);
        }
        Ok(())
    };
    random(&mut secrets.admin_token)?;
    random(&mut secrets.identifier_secret)?;
    Ok(secrets)
}

impl StackArgs {
    /// `--node-base-port` and the two ports after it, else `--node-ports`.
    ///
    /// # Errors
    /// A usage error naming `--node-base-port` when the ports would pass 65535.
    pub fn node_ports(&self) -> Result<Vec<u16>, CliError> {
        match self.node_base_port {
            Some(base) => {
                StackConfig::ports_from(base, 3).map_err(|e| CliError::flag("--node-base-port", e))
            }
            None => Ok(self.node_ports.clone()),
        }
    }

    /// The stack's configuration in `state_dir`, binaries resolved, the nodes' secrets from
    /// the environment ([`secrets_from_env`]).
    ///
    /// # Errors
    /// A usage error naming the bad flag, or a missing binary.
    pub fn config(&self, state_dir: PathBuf) -> Result<StackConfig, CliError> {
        let node_ports = self.node_ports()?;
        let cluster = self.redis == RedisKind::Cluster;
        let default_port = if cluster {
            CLUSTER_REDIS_PORT
        } else {
            StackConfig::default().redis_port
        };
        let config = StackConfig {
            state_dir,
            redis_port: self.redis_port.unwrap_or(default_port),
            redis_cluster: cluster,
            redis_sentinel: self.redis == RedisKind::Sentinel,
            sentinel_port: self.sentinel_port,
            node_ports,
            failure_mode: self.failure_mode,
            policies: self.policies.clone(),
            secrets: secrets_from_env(),
            ..StackConfig::default()
        };
        config.validate().map_err(|e| {
            CliError::flag("--redis-port/--sentinel-port/--node-ports/--policies", e)
        })?;
        let (redis_server, node_bin) = binaries()?;
        Ok(StackConfig {
            redis_server,
            node_bin,
            ..config
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        stack: StackArgs,
    }

    #[test]
    fn flag_defaults_are_the_library_defaults() {
        let args = Cli::try_parse_from(["operator"]).unwrap().stack;
        let d = StackConfig::default();
        assert_eq!(args.redis_port, None);
        assert_eq!(args.redis, RedisKind::Single);
        let config = args.config(PathBuf::from("/tmp/x"));
        if let Ok(c) = config {
            assert_eq!((c.redis_port, c.redis_cluster), (d.redis_port, false));
        }
        assert_eq!(args.node_ports().unwrap(), d.node_ports);
        assert_eq!(args.failure_mode, d.failure_mode);
    }
}
