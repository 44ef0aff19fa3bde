//! Faults on a Redis Cluster stack (`stack up --redis cluster`): `kill-redis-primary N` (SIGKILL
//! the primary of shard N; its replica takes over) and `failover N` (`CLUSTER FAILOVER` on its
//! replica: a planned, lossless switch). Shard N is the N-th primary by its first slot (shard 1
//! serves slot 0). Each verifies its effect and its undo.

use std::time::Duration;

use operator_ratelimiter::topology::{InstanceView, Role, parse_cluster_nodes, ranges_text};

use super::fault::{Fault, FaultSpec};
use super::report::{Check, FaultReport, command};
use crate::environment::{Component, Environment};
use crate::error::{Error, Result};
use crate::human;
use crate::probe::{RedisProbe, wait_until};

/// How long a failover may take: a few `cluster-node-timeout`s (2 s locally).
const FAILOVER_TIMEOUT: Duration = Duration::from_secs(20);

/// The catalog lines of the cluster faults.
pub(super) fn catalog() -> Vec<FaultSpec> {
    vec![
        FaultSpec {
            name: "kill-redis-primary",
            arg: Some("N"),
            does: "SIGKILL the Redis Cluster primary of shard N (1 serves slot 0; `stack up --redis cluster`): its replica takes over (verified, with the time it took); on a sentinel stack (`--redis sentinel`) N is 1: the set's primary, a sentinel promotes the replica (verified)",
            undo: "`chaos undo kill-redis-primary N` starts the killed member again: it rejoins as a replica (verified: the cluster whole, every primary with a replica; on a sentinel stack: it replicates the new primary, in sync)",
        },
        FaultSpec {
            name: "failover",
            arg: Some("N"),
            does: "CLUSTER FAILOVER on the replica of shard N's primary: a planned switch, no write lost (verified: roles swapped)",
            undo: "`chaos undo failover N` fails over back (verified: roles swapped again, the cluster whole)",
        },
    ]
}

/// The cluster as one live member tells it.
async fn topology(env: &dyn Environment) -> Result<Vec<InstanceView>> {
    let status = env.status().await?;
    for s in status
        .iter()
        .filter(|s| matches!(s.component, Component::RedisMember(_)) && s.running)
    {
        let Ok(probe) = RedisProbe::new(
            &format!("redis://127.0.0.1:{}", s.port),
            Duration::from_millis(500),
        ) else {
            continue;
        };
        if let Ok(text) = probe
            .query::<String>(redis::cmd("CLUSTER").arg("NODES"))
            .await
        {
            let mut nodes = parse_cluster_nodes(&text);
            for n in &mut nodes {
                n.reachable = !n.failed;
            }
            return Ok(nodes);
        }
    }
    Err(Error::Fault(
        "no Redis Cluster member answers: this fault needs `operator stack up --redis cluster`"
            .into(),
    ))
}

/// The live primaries serving slots, by first slot.
fn shards(nodes: &[InstanceView]) -> Vec<&InstanceView> {
    let mut p: Vec<&InstanceView> = nodes
        .iter()
        .filter(|i| i.role == Role::Primary && !i.failed && !i.slots.is_empty())
        .collect();
    p.sort_by_key(|i| i.slots.iter().map(|r| r.start).min());
    p
}

/// The primary of shard `n` (1-based).
fn shard(nodes: &[InstanceView], n: usize) -> Result<InstanceView> {
    let all = shards(nodes);
    n.checked_sub(1)
        .and_then(|i| all.get(i))
        .map(|i| (*i).clone())
        .ok_or_else(|| {
            Error::Fault(format!(
                "no shard {n}: the cluster has {} live primaries (shards 1 to {})",
                all.len(),
                all.len()
            ))
        })
}

fn port_of(i: &InstanceView) -> u16 {
    i.addr
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or(0)
}

async fn member_on(env: &dyn Environment, port: u16) -> Result<Component> {
    env.status()
        .await?
        .into_iter()
        .find(|s| s.port == port && matches!(s.component, Component::RedisMember(_)))
        .map(|s| s.component)
        .ok_or_else(|| Error::Fault(format!("no stack member on port {port}")))
}

/// Waits until the slots of `old` are served by another live primary; it and how long it took.
async fn wait_new_primary(env: &dyn Environment, old: &InstanceView) -> Option<(String, Duration)> {
    let first = old.slots.first()?.start;
    let start = tokio::time::Instant::now();
    while start.elapsed() < FAILOVER_TIMEOUT {
        if let Ok(nodes) = topology(env).await
            && let Some(owner) = shards(&nodes).into_iter().find(|p| {
                p.id != old.id && p.slots.iter().any(|r| r.start <= first && first <= r.end)
            })
        {
            return Some((owner.addr.clone(), start.elapsed()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// Waits until every primary serving slots has a live replica and all slots are served.
/// Whether every live replica's link to its primary is up (`INFO replication`).
async fn replicas_in_sync(nodes: &[InstanceView]) -> bool {
    for r in nodes
        .iter()
        .filter(|r| r.role == Role::Replica && !r.failed)
    {
        let Ok(probe) = RedisProbe::new(&format!("redis://{}", r.addr), Duration::from_secs(1))
        else {
            return false;
        };
        let link = probe.info_field("replication", "master_link_status").await;
        if !matches!(link.as_ref().map(|v| v.as_deref()), Ok(Some("up"))) {
            return false;
        }
    }
    true
}

pub(super) async fn wait_whole(env: &dyn Environment) -> Check {
    let whole = wait_until(FAILOVER_TIMEOUT, Duration::from_millis(100), || async {
        let Ok(nodes) = topology(env).await else {
            return false;
        };
        let primaries = shards(&nodes);
        let covered: u32 = primaries
            .iter()
            .flat_map(|p| &p.slots)
            .map(|r| u32::from(r.end - r.start) + 1)
            .sum();
        let paired = covered == 16_384
            && primaries.iter().all(|p| {
                nodes.iter().any(|r| {
                    r.role == Role::Replica && !r.failed && r.primary_id.as_deref() == Some(&p.id)
                })
            });
        // A restarted member rejoins empty: it is whole once it replicates, not before (until
        // then a client may still be sent to it and find nothing, e.g. no policies).
        paired && replicas_in_sync(&nodes).await
    })
    .await;
    match whole {
        Some(d) => Check::new(
            "the cluster is whole: every slot served, every primary with a live replica in sync",
            true,
            format!("after {}", human::duration(d)),
        ),
        None => Check::new(
            "the cluster is whole: every slot served, every primary with a live replica in sync",
            false,
            format!("not within {}", human::duration(FAILOVER_TIMEOUT)),
        ),
    }
}

/// `kill-redis-primary N`.
pub(super) async fn kill_primary(
    env: &dyn Environment,
    fault: &Fault,
    n: usize,
) -> Result<FaultReport> {
    let mut r = FaultReport::new(
        fault,
        "inject",
        format!(
            "not undone by itself: `{} undo kill-redis-primary {n}` starts the killed member again",
            command(env)
        ),
    );
    let old = shard(&topology(env).await?, n)?;
    let c = member_on(env, port_of(&old)).await?;
    env.kill(c).await?;
    r.effective_now();
    r.entity = Some(old.addr.clone());
    r.did.push(format!(
        "killed {c} ({}, primary of shard {n}, slots {}) with SIGKILL",
        old.addr,
        ranges_text(&old.slots)
    ));
    r.checks.push(match wait_new_primary(env, &old).await {
        Some((new, took)) => Check::new(
            format!("a replica took over shard {n}"),
            true,
            format!(
                "{new} serves slots {} after {}",
                ranges_text(&old.slots),
                human::duration(took)
            ),
        ),
        None => Check::new(
            format!("a replica took over shard {n}"),
            false,
            format!(
                "slots {} still not served by another primary after {}",
                ranges_text(&old.slots),
                human::duration(FAILOVER_TIMEOUT)
            ),
        ),
    });
    Ok(r)
}

/// `undo kill-redis-primary N`: starts every member that is not running.
pub(super) async fn undo_kill_primary(env: &dyn Environment, fault: &Fault) -> Result<FaultReport> {
    let mut r = FaultReport::new(fault, "undo", "the undo");
    let stopped: Vec<Component> = env
        .status()
        .await?
        .into_iter()
        .filter(|s| matches!(s.component, Component::RedisMember(_)) && !s.running)
        .map(|s| s.component)
        .collect();
    for c in &stopped {
        env.start(*c).await?;
        r.did.push(format!(
            "started {c} again (empty; it rejoins with its nodes.conf)"
        ));
    }
    if stopped.is_empty() {
        r.did.push("every cluster member was running".into());
    }
    r.effective_now();
    r.checks.push(wait_whole(env).await);
    Ok(r)
}

/// `failover N` (and its undo, which fails over back): `CLUSTER FAILOVER` on a replica of shard
/// N's primary.
pub(super) async fn failover(
    env: &dyn Environment,
    fault: &Fault,
    n: usize,
    step: &'static str,
) -> Result<FaultReport> {
    let undo = if step == "inject" {
        format!("`{} undo failover {n}` fails over back", command(env))
    } else {
        "the undo".to_owned()
    };
    let mut r = FaultReport::new(fault, step, undo);
    let nodes = topology(env).await?;
    let old = shard(&nodes, n)?;
    let replica = nodes
        .iter()
        .find(|i| i.role == Role::Replica && !i.failed && i.primary_id.as_deref() == Some(&old.id))
        .ok_or_else(|| {
            Error::Fault(format!(
                "shard {n}'s primary {} has no live replica to fail over to",
                old.addr
            ))
        })?
        .clone();
    let probe = RedisProbe::new(&format!("redis://{}", replica.addr), Duration::from_secs(2))?;
    probe
        .query::<String>(redis::cmd("CLUSTER").arg("FAILOVER"))
        .await?;
    r.effective_now();
    r.entity = Some(old.addr.clone());
    r.did.push(format!(
        "CLUSTER FAILOVER on {} (replica of {}, shard {n}, slots {})",
        replica.addr,
        old.addr,
        ranges_text(&old.slots)
    ));
    r.checks.push(match wait_new_primary(env, &old).await {
        Some((new, took)) => Check::new(
            format!("{} is the primary of shard {n}", replica.addr),
            new == replica.addr,
            format!(
                "{new} serves slots {} after {}",
                ranges_text(&old.slots),
                human::duration(took)
            ),
        ),
        None => Check::new(
            format!("{} is the primary of shard {n}", replica.addr),
            false,
            format!(
                "roles not swapped within {}",
                human::duration(FAILOVER_TIMEOUT)
            ),
        ),
    });
    r.checks.push(wait_whole(env).await);
    Ok(r)
}
