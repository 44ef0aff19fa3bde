//! [`EvalConfig`]: how `operator eval` runs, the faults it tries by default, and the agent it
//! lets repair them.

use std::path::PathBuf;
use std::time::Duration;

use operator_core::{AgentConfig, Mode};

use crate::chaos::Fault;
use crate::error::{Error, Result};

/// The rate limiter's safe actions, the ones the eval's agent may run by default: each repairs
/// without touching a client's limits or counters (`reset_counter` and `update_policy` do).
pub const SAFE_ACTIONS: &[&str] = &["repair_stuck_keys", "reseed_policies"];

/// How the eval runs, whatever the environment. [`Default`] gives 5 trials of every fault that
/// runs without a network of its own, the demo's load and the monitor's usual 500 ms interval,
/// no soak, and the agent in execute mode with the [`SAFE_ACTIONS`] allowed.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalConfig {
    /// The ticket database.
    pub db: PathBuf,
    /// Delete `db` first (it is the eval's own).
    pub fresh_db: bool,
    /// Trials per fault.
    pub trials: usize,
    /// The faults tried, in order.
    pub faults: Vec<Fault>,
    /// Length of the healthy run under load before the trials (zero: none).
    pub soak: Duration,
    /// The agent that diagnoses and repairs each trial's ticket (`None`: no agent; every fault
    /// is repaired by its undo).
    pub agent: Option<AgentConfig>,
    /// Seeds the load's key names, so that a run is reproducible.
    pub seed: u64,
    /// Checks per second of the background load.
    pub load_rate: f64,
    /// Time between observations.
    pub interval: Duration,
    /// Bound on one observation.
    pub observe_timeout: Duration,
    /// Longest wait for each expected outcome (detection, resolution, a healthy stack).
    pub deadline: Duration,
}

impl Default for EvalConfig {
    fn default() -> Self {
        Self {
            db: PathBuf::from("eval-tickets.db"),
            fresh_db: true,
            trials: 5,
            faults: default_faults(false, false),
            soak: Duration::ZERO,
            agent: Some(default_agent()),
            seed: 1,
            load_rate: 240.0,
            interval: Duration::from_millis(500),
            observe_timeout: Duration::from_secs(2),
            deadline: Duration::from_secs(15),
        }
    }
}

impl EvalConfig {
    /// Checks every setting.
    ///
    /// # Errors
    /// [`Error::Config`] naming the bad setting.
    pub fn validate(&self) -> Result<()> {
        if self.trials == 0 {
            return Err(Error::Config("eval: trials must be at least 1".into()));
        }
        if self.faults.is_empty() {
            return Err(Error::Config("eval: no fault to try".into()));
        }
        if !(self.load_rate > 0.0 && self.load_rate.is_finite()) {
            return Err(Error::Config("eval: load rate must be positive".into()));
        }
        if self.interval.is_zero() || self.deadline.is_zero() || self.observe_timeout.is_zero() {
            return Err(Error::Config(
                "eval: interval, observation timeout and deadline must be positive".into(),
            ));
        }
        Ok(())
    }
}

/// The agent of the eval by default: execute mode, the [`SAFE_ACTIONS`] allowed.
pub fn default_agent() -> AgentConfig {
    SAFE_ACTIONS
        .iter()
        .fold(AgentConfig::default().mode(Mode::Execute), |c, a| {
            c.allow(*a)
        })
}

/// The arguments a fault of the catalog is tried with when none are given: node 2, 20 stuck
/// keys, 3 s for a duration, shard 1 for `kill-redis-primary` and shard 2 for `failover` (so a
/// cluster run puts two shards through a switch), node 2's clock 5 s ahead, Redis 100 ms slow for
/// 5 s (100 ms: below the monitor's 300 ms Redis timeout, so that Redis is slow for it too, not
/// gone). `None` for an argument shape it cannot fill.
fn default_words(name: &'static str, arg: Option<&'static str>) -> Option<Vec<&'static str>> {
    Some(match arg {
        None => vec![name],
        Some("N") if name == "stuck-keys" => vec![name, "20"],
        Some("N") if name == "kill-redis-primary" => vec![name, "1"],
        Some("N") => vec![name, "2"],
        Some("DURATION") => vec![name, "3s"],
        Some("N DURATION") => vec![name, "2", "3s"],
        Some("N OFFSET") => vec![name, "2", "5s"],
        Some("LATENCY DURATION") => vec![name, "100ms", "5s"],
        Some(_) => return None,
    })
}

/// Every fault of the chaos catalog (each can be undone), with its default arguments, that an
/// environment with (`has_network`) or without a network of its own, on a Redis Cluster
/// (`cluster`) or one Redis, can evaluate.
pub fn default_faults(has_network: bool, cluster: bool) -> Vec<Fault> {
    Fault::catalog()
        .iter()
        .filter_map(|s| default_words(s.name, s.arg))
        .filter_map(|w| Fault::parse(&w).ok())
        .filter(|f| f.expectation().evaluable(has_network, cluster))
        .collect()
}

/// Parses `--faults`: comma-separated faults, each as `operator chaos` takes it (`kill-node 3`,
/// `pause-redis 2s`), or by its name alone with the default arguments (`kill-node` is
/// `kill-node 2`).
///
/// # Errors
/// [`Error::Fault`] naming the fault that does not parse.
pub fn parse_faults(list: &str) -> Result<Vec<Fault>> {
    let mut out = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let words: Vec<&str> = item.split_whitespace().collect();
        let fault = match words.as_slice() {
            [name] => match Fault::catalog().iter().find(|s| s.name == *name) {
                Some(s) => default_words(s.name, s.arg)
                    .map_or_else(|| Fault::parse(&words), |w| Fault::parse(&w))?,
                None => Fault::parse(&words)?,
            },
            _ => Fault::parse(&words)?,
        };
        if !out.contains(&fault) {
            out.push(fault);
        }
    }
    if out.is_empty() {
        return Err(Error::Fault("no fault given".into()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_faults_are_the_catalog_with_default_arguments() {
        let names = |fs: Vec<Fault>| fs.iter().map(Fault::to_string).collect::<Vec<_>>();
        let local = names(default_faults(false, false));
        assert_eq!(
            local,
            [
                "kill-redis",
                "restart-redis",
                "pause-redis 3s",
                "kill-node 2",
                "restart-node 2",
                "stuck-keys 20",
                "drop-policies",
                "script-flush",
                "key-prefix-mismatch 2",
                "clock-drift 2 5s",
                "eviction",
                "slow-redis 100ms 5s",
                "naive-mode"
            ]
        );
        let compose = names(default_faults(true, false));
        // Partitions need compose's network; nodes restarted with other flags (the drifts,
        // slow-redis's longer timeout, naive-mode) and the eviction's undo need the local
        // environment.
        assert_eq!(compose.len(), local.len() + 2 - 5);
        assert!(compose.contains(&"partition-node 2 3s".to_owned()));
        assert_eq!(EvalConfig::default().faults, default_faults(false, false));
        assert_eq!(
            names(default_faults(false, true)),
            [
                "kill-node 2",
                "restart-node 2",
                "stuck-keys 20",
                "kill-redis-primary 1",
                "failover 2",
                "key-prefix-mismatch 2",
                "clock-drift 2 5s",
                "naive-mode"
            ]
        );
        assert!(EvalConfig::default().validate().is_ok());
    }

    #[test]
    fn a_fault_list_takes_names_alone_or_with_arguments() {
        let fs =
            parse_faults("kill-redis, kill-node, stuck-keys 5,pause-redis 1s,kill-node 2,kill-redis-primary,failover")
                .unwrap();
        let shown: Vec<String> = fs.iter().map(Fault::to_string).collect();
        assert_eq!(
            shown,
            [
                "kill-redis",
                "kill-node 2",
                "stuck-keys 5",
                "pause-redis 1s",
                "kill-redis-primary 1",
                "failover 2"
            ]
        );
        for bad in ["", " , ", "flushall", "kill-node zero", "kill-redis now"] {
            assert!(parse_faults(bad).is_err(), "{bad:?}");
        }
        assert!(
            parse_faults("kill-redis,nope")
                .unwrap_err()
                .to_string()
                .contains("nope")
        );
    }

    #[test]
    fn the_default_agent_executes_only_safe_actions() {
        let a = default_agent();
        assert_eq!(a.mode, Mode::Execute);
        assert_eq!(
            a.allow.iter().map(String::as_str).collect::<Vec<_>>(),
            SAFE_ACTIONS
        );
        let c = EvalConfig {
            trials: 0,
            ..EvalConfig::default()
        };
        assert!(c.validate().unwrap_err().to_string().contains("trials"));
    }
}
