//! [`EvalArgs`]: the flags of `operator eval`, turned into the lab's [`EvalConfig`] (a bad value
//! names its flag).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use operator_core::{AgentConfig, Mode};
use ratelimiter_lab::eval::{self, EvalConfig, SAFE_ACTIONS};
use ratelimiter_lab::{EnvKind, Fault};

use crate::args::default_text;
use crate::args::stack::RedisKind;
use crate::args::{ComposeArgs, EnvArgs, StackArgs};
use crate::exit::CliError;

/// The subjects with an eval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EvalSubject {
    /// The distributed rate limiter: Redis and three nodes.
    Ratelimit,
}

/// `--agent`: how far the agent goes in each trial, or no agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EvalAgent {
    /// Diagnose and record; the fault's undo repairs.
    Observe,
    /// Diagnose and record the actions it would run; the fault's undo repairs.
    Propose,
    /// Run the allowed actions (--allow) and verify them; the undo repairs what they cannot.
    Execute,
    /// No agent: the fault's undo repairs.
    Off,
}

/// Flags of `operator eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The subject whose stack is put through the trials.
    #[arg(long, value_enum, default_value = "ratelimit")]
    pub subject: EvalSubject,
    /// Trials per fault.
    #[arg(long, default_value_t = EvalConfig::default().trials, value_name = "N")]
    pub trials: usize,
    /// Faults to try, comma-separated, each as `operator chaos` takes it (`kill-node 3`,
    /// `pause-redis 2s`) or by name alone with its default arguments (node 2, 20 keys, 3s,
    /// shard 1 for kill-redis-primary, shard 2 for failover) [default: every fault of `operator
    /// chaos list` the environment can run: the partitions only with --env compose; with
    /// --redis cluster kill-node 2, restart-node 2, stuck-keys 20 (across the shards),
    /// kill-redis-primary 1 and failover 2, the faults on a single Redis refused]
    #[arg(long, value_name = "LIST")]
    pub faults: Option<String>,
    /// A healthy run under load before the trials; every ticket it opens is a false ticket
    /// (0s: no soak).
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub soak: Duration,
    /// The agent that handles each trial's ticket (offline diagnosis): in execute mode it runs
    /// the --allow actions and verifies them; the fault's undo repairs what it does not.
    #[arg(long, value_enum, default_value = "execute", value_name = "MODE")]
    pub agent: EvalAgent,
    /// An action the agent may run in execute mode (repeatable or comma-separated)
    /// [default: the subject's safe actions, repair_stuck_keys and reseed_policies]
    #[arg(long, value_delimiter = ',', value_name = "ACTION")]
    pub allow: Vec<String>,
    /// Also write the table, as markdown, to this file.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Seeds the load's key names, so that a run can be repeated.
    #[arg(long, default_value_t = EvalConfig::default().seed, value_name = "N")]
    pub seed: u64,
    /// Checks per second of the background load.
    #[arg(long, default_value_t = EvalConfig::default().load_rate, value_name = "PER_SECOND")]
    pub rate: f64,
    /// Longest wait for each expected outcome of a trial (detection, resolution, cleanup).
    #[arg(long, default_value = default_text::duration(EvalConfig::default().deadline), value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub deadline: Duration,
    /// Where the eval's stack runs.
    #[command(flatten)]
    pub env: EnvArgs,
    /// Ports, failure mode, policies of the eval's stack.
    #[command(flatten)]
    pub stack: StackArgs,
    /// Where the eval's stack keeps its state file and logs, and the eval its tickets unless
    /// --db is given [default: <state dir>/operator/eval]
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Compose file, project, images, services of the eval's compose stack.
    #[command(flatten)]
    pub compose: ComposeArgs,
}

impl EvalArgs {
    /// The eval's configuration, with its ticket database (`fresh`: its own, deleted first),
    /// for a stack of `nodes` nodes.
    ///
    /// # Errors
    /// A usage error naming the flag whose value is bad.
    pub fn config(&self, db: PathBuf, fresh: bool, nodes: usize) -> Result<EvalConfig, CliError> {
        let kind = self.env.kind();
        let cluster = self.stack.redis == RedisKind::Cluster;
        let faults = match &self.faults {
            Some(list) => eval::parse_faults(list).map_err(|e| CliError::flag("--faults", e))?,
            None => eval::default_faults(kind == EnvKind::Compose, cluster),
        };
        for f in &faults {
            check_fault(f, kind, cluster, nodes)?;
        }
        if self.trials == 0 {
            return Err(CliError::flag("--trials", "at least 1"));
        }
        if !(self.rate > 0.0 && self.rate.is_finite()) {
            return Err(CliError::flag("--rate", "must be a positive number"));
        }
        if self.deadline.is_zero() {
            return Err(CliError::flag("--deadline", "must be greater than zero"));
        }
        let config = EvalConfig {
            db,
            fresh_db: fresh,
            trials: self.trials,
            faults,
            soak: self.soak,
            agent: self.agent_config()?,
            seed: self.seed,
            load_rate: self.rate,
            deadline: self.deadline,
            ..EvalConfig::default()
        };
        config.validate()?;
        Ok(config)
    }

    /// The agent: `--agent` and `--allow`, `None` for `off`.
    fn agent_config(&self) -> Result<Option<AgentConfig>, CliError> {
        let mode = match self.agent {
            EvalAgent::Off => {
                if !self.allow.is_empty() {
                    return Err(CliError::flag("--allow", "there is no agent (--agent off)"));
                }
                return Ok(None);
            }
            EvalAgent::Observe => Mode::Observe,
            EvalAgent::Propose => Mode::Propose,
            EvalAgent::Execute => Mode::Execute,
        };
        let allowed: Vec<&str> = if self.allow.is_empty() {
            SAFE_ACTIONS.to_vec()
        } else {
            self.allow
                .iter()
                .map(|a| a.trim())
                .filter(|a| !a.is_empty())
                .collect()
        };
        let config = allowed
            .into_iter()
            .fold(AgentConfig::default().mode(mode), |c, a| c.allow(a));
        let catalog = <operator_ratelimiter::RateLimitAction as operator_core::Action>::catalog();
        config
            .validate(&catalog)
            .map_err(|e| CliError::flag("--allow", e))?;
        Ok(Some(config))
    }
}

/// A fault the environment (with its Redis: a `cluster` or one) can run, on a node the stack
/// has.
fn check_fault(f: &Fault, kind: EnvKind, cluster: bool, nodes: usize) -> Result<(), CliError> {
    let e = f.expectation();
    if let Some(why) = e.refusal(kind == EnvKind::Compose, cluster) {
        return Err(CliError::flag("--faults", format!("{f} {why}")));
    }
    if let Some(n) = e.fires.and_then(|x| x.node())
        && n > nodes
    {
        return Err(CliError::flag(
            "--faults",
            format!("{f}: the stack has nodes 1 to {nodes}"),
        ));
    }
    if let Fault::RestartNode(n) = f
        && *n > nodes
    {
        return Err(CliError::flag(
            "--faults",
            format!("{f}: the stack has nodes 1 to {nodes}"),
        ));
    }
    Ok(())
}
