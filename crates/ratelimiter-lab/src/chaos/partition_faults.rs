//! Faults on the network: a component cut off from the stack's network for a while, then
//! joined again (environments with a network of their own; see
//! [`Environment::disconnect`](crate::Environment::disconnect)).
//!
//! A container disconnected from the compose network also loses its published host port: the
//! host sees it exactly as its peers do, unreachable (the monitor reports `node_down` for a node,
//! `redis_healthy` for Redis, though the process runs).

use std::time::Duration;

use super::fault::Fault;
use super::redis_faults::describe;
use super::report::{Check, FaultReport, command};
use super::verify;
use crate::environment::{Component, Environment};
use crate::error::Result;
use crate::human;
use crate::probe::wait_until;

fn undo_hint(env: &dyn Environment, fault: &Fault, c: Component, d: Duration) -> String {
    let undo = match c {
        Component::Redis | Component::RedisMember(_) | Component::Sentinel(_) => {
            "partition-redis".to_owned()
        }
        Component::Node(n) => format!("partition-node {n}"),
    };
    format!(
        "undoes itself: {c} joins the network again under its service name after {} (verified below); \
         if `{fault}` is interrupted, `{} undo {undo}` reconnects it",
        human::duration(d),
        command(env)
    )
}

/// Disconnects `c`, checks it is cut off, waits `d`, reconnects it and verifies the stack.
async fn partition(
    env: &dyn Environment,
    fault: &Fault,
    c: Component,
    d: Duration,
) -> Result<FaultReport> {
    let mut r = FaultReport::new(fault, "inject", undo_hint(env, fault, c, d));
    let (what, who) = describe(env, c).await;
    env.disconnect(c).await?;
    r.effective_now();
    r.did.push(format!(
        "disconnected {what} ({who}) from the stack's network for {}",
        human::duration(d)
    ));
    let ends = r.instant + d;
    match c {
        Component::Redis | Component::RedisMember(_) | Component::Sentinel(_) => {
            let redis = verify::redis(env)?;
            let cut = !redis.ping().await;
            r.checks.push(Check::new(
                "Redis is cut off",
                cut,
                if cut {
                    "PING on its published port fails: the host cannot reach it either"
                } else {
                    "PING still answered"
                },
            ));
            // The nodes notice on their next Redis call (their readiness probes it).
            let probe = verify::nodes(env)?;
            let urls = env.endpoints().nodes;
            let lost = || async {
                for u in &urls {
                    if probe.ready(u).await {
                        return false;
                    }
                }
                true
            };
            let within = d.min(Duration::from_secs(5));
            let noticed = wait_until(within, Duration::from_millis(50), lost).await;
            r.checks.push(Check::new(
                "the nodes lost Redis",
                noticed.is_some(),
                match noticed {
                    Some(t) => format!(
                        "every node reports not ready within {}: they decide by their failure mode",
                        human::duration(t)
                    ),
                    None => format!(
                        "a node still reported ready {} into the partition",
                        human::duration(within)
                    ),
                },
            ));
        }
        Component::Node(n) => {
            let probe = verify::nodes(env)?;
            let url = env.endpoints().node(n)?.to_owned();
            let cut = !probe.ready(&url).await;
            r.checks.push(Check::new(
                format!("{c} is cut off"),
                cut,
                if cut {
                    format!("{url} no longer answers: the host, like Redis and its peers, cannot reach it")
                } else {
                    format!("{url} still answers /readyz")
                },
            ));
        }
    }
    tokio::time::sleep_until(ends).await;
    env.reconnect(c).await?;
    r.did.push(format!(
        "reconnected it {} after the partition began",
        human::duration(r.instant.elapsed())
    ));
    r.checks.extend(verify::whole(env).await);
    Ok(r)
}

pub(super) async fn node(
    env: &dyn Environment,
    fault: &Fault,
    n: usize,
    d: Duration,
) -> Result<FaultReport> {
    env.endpoints().node(n)?;
    partition(env, fault, Component::Node(n), d).await
}

pub(super) async fn redis(
    env: &dyn Environment,
    fault: &Fault,
    d: Duration,
) -> Result<FaultReport> {
    partition(env, fault, Component::Redis, d).await
}

/// Reconnects `c` (a partition whose command was interrupted), then verifies the stack.
pub(super) async fn undo(
    env: &dyn Environment,
    fault: &Fault,
    c: Component,
) -> Result<FaultReport> {
    let mut r = FaultReport::new(fault, "undo", format!("this is the undo of {fault}"));
    env.reconnect(c).await?;
    r.effective_now();
    r.did.push(format!(
        "{c} is connected to the stack's network (reconnected if it was not)"
    ));
    r.checks = verify::whole(env).await;
    Ok(r)
}
