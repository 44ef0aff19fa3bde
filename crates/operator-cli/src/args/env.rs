//! Where a stack runs (`--env local|compose`), and the Docker Compose flags.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use ratelimiter_lab::compose::IMAGE_VARIABLES;
use ratelimiter_lab::{ComposeConfig, EnvKind};

use crate::args::stack::StackArgs;
use crate::exit::CliError;

/// `--help` text on the compose environment's variables.
pub const COMPOSE_HELP: &str = "\
With --env compose, the stack is docker-compose.ratelimit.yml run through `docker compose` (or
`docker-compose`): services redis, ratelimiter-1..3, lb (nginx), prometheus, grafana. The port
flags set the file's variables: --redis-port REDIS_PORT, --node-ports NODE1_PORT..NODE3_PORT,
--lb-port LB_PORT, --prometheus-port PROMETHEUS_PORT, --grafana-port GRAFANA_PORT;
--failure-mode RATELIMITER_FAILURE_MODE. Images come from these variables when they are set in
the environment, else from the file's public defaults: RATELIMITER_IMAGE, REDIS_IMAGE,
NGINX_IMAGE, PROMETHEUS_IMAGE, GRAFANA_IMAGE (and RUST_IMAGE, RUNTIME_IMAGE for --build; LB_BIND
to expose the load balancer). What `up` used is recorded in the state directory, so later
`stack status|down`, `chaos` and `demo` commands reuse it. On a machine without a registry, build
local images and name them in those variables, with --core-only (docs/COMPOSE.md).";

/// Where a stack runs, as `--env` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum EnvArg {
    /// Local processes: redis-server and ratelimiter-node on 127.0.0.1.
    #[default]
    Local,
    /// The services of docker-compose.ratelimit.yml, through Docker Compose.
    Compose,
}

impl From<EnvKind> for EnvArg {
    fn from(e: EnvKind) -> Self {
        match e {
            EnvKind::Local => EnvArg::Local,
            EnvKind::Compose => EnvArg::Compose,
        }
    }
}

impl From<EnvArg> for EnvKind {
    fn from(e: EnvArg) -> Self {
        match e {
            EnvArg::Local => EnvKind::Local,
            EnvArg::Compose => EnvKind::Compose,
        }
    }
}

/// `--env`.
#[derive(Debug, Clone, Copy, Args)]
pub struct EnvArgs {
    /// Where the stack runs: `local` processes, or `compose` (docker-compose.ratelimit.yml through
    /// Docker Compose).
    #[arg(long = "env", value_enum, default_value_t = EnvKind::default().into(), value_name = "ENV")]
    pub env: EnvArg,
}

impl EnvArgs {
    /// The environment chosen.
    pub fn kind(&self) -> EnvKind {
        self.env.into()
    }
}

/// The flags of a compose stack (only with `--env compose`).
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Docker Compose (--env compose)")]
pub struct ComposeArgs {
    /// The compose file [default: ./docker-compose.ratelimit.yml]
    #[arg(long, value_name = "FILE")]
    pub compose_file: Option<PathBuf>,
    /// The compose project name [default: operator; for the demo, operator-demo]
    #[arg(long, value_name = "NAME")]
    pub project: Option<String>,
    /// Build the node image (`up --build`); the build pulls its base images, so it needs a
    /// registry.
    #[arg(long)]
    pub build: bool,
    /// Start only redis, ratelimiter-1..3 and lb, not prometheus and grafana: what a machine
    /// without a registry can run with local images.
    #[arg(long)]
    pub core_only: bool,
    /// The load balancer's host port (LB_PORT) [default: 8080]
    #[arg(long, value_name = "PORT")]
    pub lb_port: Option<u16>,
    /// Prometheus's host port (PROMETHEUS_PORT) [default: 9091]
    #[arg(long, value_name = "PORT")]
    pub prometheus_port: Option<u16>,
    /// Grafana's host port (GRAFANA_PORT) [default: 3001; the TiKV compose file takes 3000]
    #[arg(long, value_name = "PORT")]
    pub grafana_port: Option<u16>,
}

impl ComposeArgs {
    /// The first compose flag given, if any.
    fn given(&self) -> Option<&'static str> {
        [
            (self.compose_file.is_some(), "--compose-file"),
            (self.project.is_some(), "--project"),
            (self.build, "--build"),
            (self.core_only, "--core-only"),
            (self.lb_port.is_some(), "--lb-port"),
            (self.prometheus_port.is_some(), "--prometheus-port"),
            (self.grafana_port.is_some(), "--grafana-port"),
        ]
        .into_iter()
        .find_map(|(given, flag)| given.then_some(flag))
    }

    /// Fails when a compose flag is given for another environment.
    ///
    /// # Errors
    /// A usage error naming the flag.
    pub fn only_with_compose(&self, kind: EnvKind) -> Result<(), CliError> {
        match (kind, self.given()) {
            (EnvKind::Local, Some(flag)) => Err(CliError::flag(
                flag,
                "only with --env compose (the local stack runs processes, not a compose file)",
            )),
            _ => Ok(()),
        }
    }

    /// The compose stack of these flags and `stack`'s ports, in `state_dir`; the image
    /// variables are taken from this process's environment, and so are the nodes' admin token
    /// and identifier secret (each generated at random when unset, and recorded in the state
    /// file, mode 0600). Without `--project`, the project is
    /// `project`, else [`ComposeConfig`]'s default.
    ///
    /// # Errors
    /// A usage error naming the bad flag.
    pub fn config(
        &self,
        stack: &StackArgs,
        state_dir: PathBuf,
        project: Option<&str>,
    ) -> Result<ComposeConfig, CliError> {
        if stack.policies.is_some() {
            return Err(CliError::flag(
                "--policies",
                "not with --env compose: the compose file mounts deploy/ratelimit/policies.toml",
            ));
        }
        let node_ports = stack.node_ports()?;
        let defaults = ComposeConfig::default();
        let file = self
            .compose_file
            .clone()
            .unwrap_or_else(|| defaults.file.clone());
        if !file.is_file() {
            return Err(CliError::flag(
                "--compose-file",
                format!(
                    "{} does not exist (run from the repository's root, or give the file's path)",
                    file.display()
                ),
            ));
        }
        let variables: BTreeMap<String, String> = IMAGE_VARIABLES
            .iter()
            .filter_map(|v| {
                let value = std::env::var(v).ok().filter(|s| !s.is_empty())?;
                Some(((*v).to_owned(), value))
            })
            .collect();
        if stack.redis == crate::args::stack::RedisKind::Cluster {
            return Err(CliError::flag(
                "--redis",
                "a Redis Cluster runs in the local environment only (docker-compose.ratelimit-cluster.yml for containers)",
            ));
        }
        if stack.redis == crate::args::stack::RedisKind::Sentinel {
            return Err(CliError::flag(
                "--redis",
                "a Redis Sentinel set runs in the local environment only (`--env local`)",
            ));
        }
        let config = ComposeConfig {
            state_dir,
            file,
            project: self
                .project
                .as_deref()
                .or(project)
                .unwrap_or(&defaults.project)
                .to_owned(),
            redis_port: stack.redis_port.unwrap_or(defaults.redis_port),
            node_ports,
            lb_port: self.lb_port.unwrap_or(defaults.lb_port),
            prometheus_port: self.prometheus_port.unwrap_or(defaults.prometheus_port),
            grafana_port: self.grafana_port.unwrap_or(defaults.grafana_port),
            failure_mode: stack.failure_mode,
            variables,
            build: self.build,
            core_only: self.core_only,
            secrets: crate::args::stack::secrets_from_env_or_random()?,
            ..defaults
        };
        config.validate().map_err(|e| {
            CliError::flag(
                "--project/--redis-port/--node-ports/--lb-port/--prometheus-port/--grafana-port",
                e,
            )
        })?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};
    use ratelimiter_lab::ComposeConfig;

    use super::ComposeArgs;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        compose: ComposeArgs,
    }

    /// The compose flags are optional (so that giving one with `--env local` is caught), so
    /// their defaults are written in their help: it must say what the library defaults to.
    #[test]
    fn the_help_names_the_library_defaults() {
        let help = Cli::command().render_long_help().to_string();
        let d = ComposeConfig::default();
        for default in [
            format!("[default: ./{}]", d.file.display()),
            format!("[default: {};", d.project),
            format!("(LB_PORT) [default: {}]", d.lb_port),
            format!("(PROMETHEUS_PORT) [default: {}]", d.prometheus_port),
            format!("(GRAFANA_PORT) [default: {};", d.grafana_port),
        ] {
            assert!(help.contains(&default), "{default} not in:\n{help}");
        }
    }
}
