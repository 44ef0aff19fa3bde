//! [`LocalEnv`]: the stack as local processes on 127.0.0.1, recorded in a state directory.
//!
//! - `config`: [`StackConfig`], what to start and where.
//! - `state`: [`StackState`], the state file (pids, start times, ports, argv, log files).
//! - `env`: [`LocalEnv`] itself: the recorded stack and the children it started; spawning,
//!   signalling and waiting for one component.
//! - `verbs`: the [`Environment`](crate::Environment) verbs on the processes.
//! - `overrides`: a component's usual flags with some replaced or added
//!   ([`Environment::restart_with`](crate::Environment::restart_with), recorded in the state).
//! - `process`: detached spawning, identity by start time, signals.
//! - `cluster`: `--redis cluster`, six `redis-server` members (3 primaries + 3 replicas) on
//!   consecutive ports from the Redis port, joined with `redis-cli --cluster create`.
//! - `sentinel`: `--redis sentinel`, a primary and its replica (`redis-1`, `redis-2`) watched by
//!   three sentinels (`sentinel-1..3`, ports from 26379) with quorum 2 and a 2 s down-after.
//! - `up`: bringing a stack up (ports checked first, rolled back on failure) and down.
//!
//! The processes run in their own process groups with their output in log files, so they
//! outlive the command that started them: `operator stack up` returns, and later commands find
//! them through the state file. A process is only ever signalled while its pid still has the
//! recorded start time.

mod cluster;
mod config;
#[cfg(test)]
mod config_tests;
mod env;
mod overrides;
mod process;
pub(crate) mod sentinel;
mod state;
mod up;
mod verbs;

pub use cluster::{CLUSTER_MEMBERS, CLUSTER_NODE_TIMEOUT_MS};
pub use config::StackConfig;
pub use env::LocalEnv;
pub use sentinel::{SENTINEL_DOWN_AFTER_MS, SENTINEL_MASTER, SENTINEL_PORT};
pub use state::{ProcessRecord, STATE_FILE, STATE_FORMAT, StackState};
