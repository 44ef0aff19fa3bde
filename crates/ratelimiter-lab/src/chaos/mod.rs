//! Chaos on demand: faults injected into a running stack through an [`Environment`], each saying
//! what it did and how it is undone, and verifying what it claims.
//!
//! - A fault with a duration (`pause-redis`) undoes itself, and the undo is verified.
//! - A fault the stack repairs by itself (`restart-redis`, `restart-node`, `drop-policies`,
//!   `script-flush`) waits for that repair and verifies it.
//! - A fault that stays (`kill-redis`, `kill-node`, `stuck-keys`) verifies its effect and names
//!   its undo ([`undo`]), which is verified in turn.
//!
//! - A partition (`partition-node`, `partition-redis`) needs an environment with a network of
//!   its own (compose); it undoes itself after its duration, and the undo is verified.
//!
//! - On a Redis Cluster stack, `kill-redis-primary N` verifies that a replica took over and names
//!   its undo; `failover N` verifies the switch, its undo fails over back (`cluster_faults`).
//! - On a Redis Sentinel stack, `kill-redis-primary 1` verifies that a sentinel promoted the
//!   replica, its undo that the old primary rejoined as a replica (`sentinel_faults`).
//!
//! - Seed 004's failure causes: `key-prefix-mismatch N` and `clock-drift N OFFSET` restart a
//!   node with other flags (local only, `drift_faults`), `eviction` shrinks `maxmemory` and
//!   fills Redis until it evicts (local only, `memory_faults`), their undos put the usual
//!   settings back; `slow-redis LATENCY DURATION` keeps Redis busy so that it answers late,
//!   and undoes itself (`latency_faults`). `causes` holds their catalog lines.
//! - Seed 003's teaching mode: `naive-mode` restarts every node with `--limiter-mode naive`
//!   (local only, `mode_faults`), its undo with the usual flags (atomic).
//!
//! Layout: `fault` ([`Fault`], its catalog and parsing), `expect` (what a trial of each fault
//! expects: [`Expectation`]; `expected`, the ticket it must open), `report` ([`Check`] and
//! [`FaultReport`], what every step reports), `redis_faults`, `node_faults`, `key_faults`,
//! `partition_faults` (the faults, by what they act on), and `verify` (checks shared by faults
//! and undos). This module runs a fault or its undo; the faults never import it.

mod causes;
mod cluster_faults;
mod drift_faults;
mod expect;
mod expected;
mod fault;
mod key_faults;
mod latency_faults;
mod memory_faults;
mod mode_faults;
mod node_faults;
mod partition_faults;
mod redis_faults;
mod report;
mod sentinel_faults;
mod verify;

use tokio::time::Instant;

use crate::environment::{Component, Environment};
use crate::error::Result;

pub use drift_faults::OTHER_PREFIX;
pub use expect::{Expectation, RedisNeed, Remedy, TicketClass};
pub use expected::{Entity, Expected};
pub use fault::{Fault, FaultSpec};
pub use key_faults::STUCK_KEY_INFIX;
pub use memory_faults::FILL_PREFIX;
pub use report::{Check, FaultReport};

/// Injects `fault` into the stack of `env`, and verifies its effect (and, for faults that undo
/// themselves, the undo).
///
/// # Errors
/// When the fault cannot be carried out at all (a component to signal is not running, Redis
/// refuses the command). A verification that fails is reported in [`FaultReport::checks`].
pub async fn inject(env: &dyn Environment, fault: Fault) -> Result<FaultReport> {
    let started = Instant::now();
    let report = match fault {
        Fault::KillRedis => redis_faults::kill(env, &fault).await?,
        Fault::RestartRedis => redis_faults::restart(env, &fault).await?,
        Fault::PauseRedis(d) => redis_faults::pause(env, &fault, d).await?,
        Fault::DropPolicies => redis_faults::drop_policies(env, &fault).await?,
        Fault::ScriptFlush => redis_faults::script_flush(env, &fault).await?,
        Fault::KillNode(n) => node_faults::kill(env, &fault, n).await?,
        Fault::RestartNode(n) => node_faults::restart(env, &fault, n).await?,
        Fault::StuckKeys(n) => key_faults::stuck(env, &fault, n).await?,
        Fault::PartitionNode(n, d) => partition_faults::node(env, &fault, n, d).await?,
        Fault::PartitionRedis(d) => partition_faults::redis(env, &fault, d).await?,
        Fault::KillRedisPrimary(n) if sentinel_faults::applies(env) => {
            sentinel_faults::kill_primary(env, &fault, n).await?
        }
        Fault::KillRedisPrimary(n) => cluster_faults::kill_primary(env, &fault, n).await?,
        Fault::Failover(n) => cluster_faults::failover(env, &fault, n, "inject").await?,
        Fault::KeyPrefixMismatch(n) => drift_faults::key_prefix(env, &fault, n).await?,
        Fault::ClockDrift(n, ms) => drift_faults::clock(env, &fault, n, ms).await?,
        Fault::Eviction => memory_faults::eviction(env, &fault).await?,
        Fault::SlowRedis(l, d) => latency_faults::slow(env, &fault, l, d).await?,
        Fault::NaiveMode => mode_faults::naive(env, &fault).await?,
    };
    Ok(report.finish(started))
}

/// Undoes `fault` and verifies that the stack is whole again: starts what `kill-*` killed,
/// deletes what `stuck-keys` wrote, resumes a Redis left frozen by an interrupted `pause-redis`,
/// reconnects what an interrupted partition left out. For faults that undo themselves, only
/// verifies.
///
/// # Errors
/// As [`inject`].
pub async fn undo(env: &dyn Environment, fault: Fault) -> Result<FaultReport> {
    let started = Instant::now();
    let report = match fault {
        Fault::KillRedis => redis_faults::undo_kill(env, &fault).await?,
        Fault::KillNode(n) => node_faults::undo_kill(env, &fault, n).await?,
        Fault::StuckKeys(_) => key_faults::undo_stuck(env, &fault).await?,
        Fault::PauseRedis(_) => redis_faults::undo_pause(env, &fault).await?,
        Fault::PartitionNode(n, _) => {
            partition_faults::undo(env, &fault, Component::Node(n)).await?
        }
        Fault::PartitionRedis(_) => partition_faults::undo(env, &fault, Component::Redis).await?,
        Fault::KillRedisPrimary(_) if sentinel_faults::applies(env) => {
            sentinel_faults::undo_kill_primary(env, &fault).await?
        }
        Fault::KillRedisPrimary(_) => cluster_faults::undo_kill_primary(env, &fault).await?,
        Fault::Failover(n) => cluster_faults::failover(env, &fault, n, "undo").await?,
        Fault::KeyPrefixMismatch(n) => drift_faults::undo_key_prefix(env, &fault, n).await?,
        Fault::ClockDrift(n, _) => drift_faults::undo_clock(env, &fault, n).await?,
        Fault::Eviction => memory_faults::undo_eviction(env, &fault).await?,
        Fault::SlowRedis(..) => latency_faults::undo_slow(env, &fault).await?,
        Fault::NaiveMode => mode_faults::undo_naive(env, &fault).await?,
        _ => {
            let mut r = FaultReport::new(&fault, "undo", "nothing to undo: it undoes itself");
            r.did.push(format!(
                "nothing to do: {fault} undoes itself; verifying the stack"
            ));
            r.checks = verify::whole(env).await;
            r
        }
    };
    Ok(report.finish(started))
}

/// Verifies that the stack is whole: Redis answers and holds the policies, every node is ready
/// (each waited for up to the verification timeout).
pub async fn verify_whole(env: &dyn Environment) -> Vec<Check> {
    verify::whole(env).await
}
