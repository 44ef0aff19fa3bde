//! `kill-redis-primary 1` on a Redis Sentinel stack (`stack up --redis sentinel`): SIGKILL the
//! primary the sentinels name; verified when every live sentinel names the replica and it says
//! `role:master`. Undo: start the killed member again (empty, as a primary); verified when it
//! says it is a replica of the new primary, in sync. The shape of the cluster fault
//! (`cluster_faults`), with the sentinels as the source of truth instead of `CLUSTER NODES`.

use std::time::Duration;

use super::fault::Fault;
use super::report::{Check, FaultReport, command};
use crate::environment::{Component, ComponentStatus, Environment};
use crate::error::{Error, Result};
use crate::human;
use crate::local::sentinel::{SENTINEL_DOWN_AFTER_MS, primary_of, replication};
use crate::probe::wait_until;

/// How long a failover may take: a few `down-after-milliseconds` plus the election.
const FAILOVER_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether `env` runs a sentinel set: its endpoints name the primary set.
pub(super) fn applies(env: &dyn Environment) -> bool {
    env.endpoints().sentinel_master.is_some()
}

fn master(env: &dyn Environment) -> String {
    env.endpoints().sentinel_master.unwrap_or_default()
}

/// The primary as the live sentinels name it (the first that answers), and every live
/// sentinel's answer.
async fn named_primary(env: &dyn Environment) -> Result<(Option<String>, Vec<Option<String>>)> {
    let master = master(env);
    let status = env.status().await?;
    let mut answers = Vec::new();
    for s in sentinels(&status) {
        answers.push(primary_of(s.port, &master).await);
    }
    Ok((answers.iter().flatten().next().cloned(), answers))
}

fn sentinels(status: &[ComponentStatus]) -> impl Iterator<Item = &ComponentStatus> {
    status
        .iter()
        .filter(|s| matches!(s.component, Component::Sentinel(_)) && s.running)
}

fn port_of(addr: &str) -> u16 {
    addr.rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or(0)
}

/// `kill-redis-primary N` on a sentinel stack: N must be 1, the set's one primary.
pub(super) async fn kill_primary(
    env: &dyn Environment,
    fault: &Fault,
    n: usize,
) -> Result<FaultReport> {
    if n != 1 {
        return Err(Error::Fault(format!(
            "no shard {n}: a Sentinel set has one primary (kill-redis-primary 1)"
        )));
    }
    let mut r = FaultReport::new(
        fault,
        "inject",
        format!(
            "not undone by itself: `{} undo kill-redis-primary 1` starts the killed member again",
            command(env)
        ),
    );
    let (Some(old), _) = named_primary(env).await? else {
        return Err(Error::Fault(
            "no sentinel names a primary: this fault needs `operator stack up --redis sentinel`"
                .into(),
        ));
    };
    let status = env.status().await?;
    let c = status
        .iter()
        .find(|s| s.port == port_of(&old) && matches!(s.component, Component::RedisMember(_)))
        .map(|s| s.component)
        .ok_or_else(|| Error::Fault(format!("the primary {old} is not a member of this stack")))?;
    env.kill(c).await?;
    r.effective_now();
    r.did.push(format!(
        "killed {c} ({old}, the primary of set {}) with SIGKILL; the sentinels call it down after {} ms",
        master(env),
        SENTINEL_DOWN_AFTER_MS
    ));
    let took = wait_until(FAILOVER_TIMEOUT, Duration::from_millis(100), || {
        let old = old.clone();
        async move {
            let Ok((_, answers)) = named_primary(env).await else {
                return false;
            };
            let first = answers.first().cloned().flatten();
            first.as_ref().is_some_and(|p| *p != old)
                && answers.iter().all(|a| *a == first)
                && replication(first.as_deref().unwrap_or_default())
                    .await
                    .contains("role:master")
        }
    })
    .await;
    let new = named_primary(env).await?.0;
    r.checks.push(match (took, new) {
        (Some(took), Some(new)) => Check::new(
            "a sentinel promoted the replica",
            true,
            format!(
                "every sentinel names {new} (role:master) after {}",
                human::duration(took)
            ),
        ),
        _ => Check::new(
            "a sentinel promoted the replica",
            false,
            format!(
                "the sentinels did not agree on a new primary other than {old} within {}",
                human::duration(FAILOVER_TIMEOUT)
            ),
        ),
    });
    Ok(r)
}

/// `undo kill-redis-primary 1` on a sentinel stack: starts every data member (and sentinel)
/// that is not running, then waits until each data member other than the primary is its
/// replica, in sync.
pub(super) async fn undo_kill_primary(env: &dyn Environment, fault: &Fault) -> Result<FaultReport> {
    let mut r = FaultReport::new(fault, "undo", "the undo");
    let stopped: Vec<Component> = env
        .status()
        .await?
        .into_iter()
        .filter(|s| {
            matches!(
                s.component,
                Component::RedisMember(_) | Component::Sentinel(_)
            ) && !s.running
        })
        .map(|s| s.component)
        .collect();
    for c in &stopped {
        env.start(*c).await?;
        r.did.push(format!(
            "started {c} again (empty, as a primary: the sentinels turn it into a replica)"
        ));
    }
    if stopped.is_empty() {
        r.did.push("every member of the set was running".into());
    }
    r.effective_now();
    let members: Vec<u16> = env
        .status()
        .await?
        .iter()
        .filter(|s| matches!(s.component, Component::RedisMember(_)))
        .map(|s| s.port)
        .collect();
    let took = wait_until(FAILOVER_TIMEOUT, Duration::from_millis(200), || {
        let members = members.clone();
        async move {
            let Ok((Some(p), _)) = named_primary(env).await else {
                return false;
            };
            let mut whole = true;
            for port in members.iter().filter(|m| **m != port_of(&p)) {
                let info = replication(&format!("127.0.0.1:{port}")).await;
                whole = whole
                    && info.contains("role:slave")
                    && info.contains(&format!("master_port:{}", port_of(&p)))
                    && info.contains("master_link_status:up");
            }
            whole
        }
    })
    .await;
    let primary = named_primary(env).await?.0;
    r.checks.push(match (took, primary) {
        (Some(took), Some(p)) => Check::new(
            "the old primary rejoined as a replica",
            true,
            format!(
                "every other member replicates {p}, in sync, after {}",
                human::duration(took)
            ),
        ),
        _ => Check::new(
            "the old primary rejoined as a replica",
            false,
            format!(
                "not every member replicates the primary within {}",
                human::duration(FAILOVER_TIMEOUT)
            ),
        ),
    });
    Ok(r)
}
