//! Faults on the nodes: kill one, restart one; and restarting one with other flags
//! ([`restart_with`]), the step the faults that run a node differently share.

use super::fault::Fault;
use super::redis_faults::describe;
use super::report::{Check, FaultReport, command};
use super::verify;
use crate::environment::{Component, Environment};
use crate::error::Result;
use crate::human;
use crate::probe::port_open;

/// The port of node `n`, from its URL.
pub(super) fn port(env: &dyn Environment, n: usize) -> Result<u16> {
    let addr = env.endpoints().node_addr(n)?;
    Ok(addr
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or(0))
}

pub(super) async fn kill(env: &dyn Environment, fault: &Fault, n: usize) -> Result<FaultReport> {
    let mut r = FaultReport::new(
        fault,
        "inject",
        format!(
            "not undone by itself: `{} undo kill-node {n}` (or `restart-node {n}`) starts it again",
            command(env)
        ),
    );
    let c = Component::Node(n);
    let port = port(env, n)?;
    let (what, who) = describe(env, c).await;
    env.kill(c).await?;
    r.effective_now();
    r.did.push(format!("killed {what} with SIGKILL ({who})"));
    let closed = !port_open(port).await;
    r.checks.push(Check::new(
        format!("{c} no longer accepts connections"),
        closed,
        if closed {
            format!("port {port} refuses connections")
        } else {
            format!("port {port} still accepts connections")
        },
    ));
    Ok(r)
}

pub(super) async fn undo_kill(
    env: &dyn Environment,
    fault: &Fault,
    n: usize,
) -> Result<FaultReport> {
    let mut r = FaultReport::new(fault, "undo", format!("this is the undo of kill-node {n}"));
    let c = Component::Node(n);
    env.start(c).await?;
    r.effective_now();
    let (what, who) = describe(env, c).await;
    r.did.push(format!("started {what} again ({who})"));
    r.checks = verify::whole(env).await;
    Ok(r)
}

pub(super) async fn restart(env: &dyn Environment, fault: &Fault, n: usize) -> Result<FaultReport> {
    let mut r = FaultReport::new(
        fault,
        "inject",
        "undoes itself: the node is started again at once (verified ready below)",
    );
    let c = Component::Node(n);
    let (what, before) = describe(env, c).await;
    env.stop(c).await?;
    r.effective_now();
    env.start(c).await?;
    let (_, after) = describe(env, c).await;
    r.did.push(format!(
        "restarted {what}: stopped with SIGTERM ({before}), ready again ({after}) {} later",
        human::duration(r.instant.elapsed())
    ));
    let new_process = before != after;
    r.checks.push(Check::new(
        format!("{c} runs as a new process"),
        new_process,
        format!("before: {before}; after: {after}"),
    ));
    r.checks.push(verify::nodes_ready(env).await);
    Ok(r)
}

/// Restarts node `n` with `overrides` over its usual flags (none: back to its usual flags),
/// and reports it in `r`: what was done, and checks that it runs as a new process, ready, with
/// exactly those overrides recorded. The shared step of the faults that run a node differently
/// (`key-prefix-mismatch`, `clock-drift`, `naive-mode`) and of their undos.
///
/// # Errors
/// [`Error::LocalOnly`](crate::Error::LocalOnly) in an environment that cannot restart a node
/// with other flags; as [`Environment::restart_with`].
#[allow(
    dead_code,
    reason = "used by the faults that run a node differently, landing next"
)]
pub(super) async fn restart_with(
    env: &dyn Environment,
    r: &mut FaultReport,
    n: usize,
    overrides: &[(&str, &str)],
) -> Result<()> {
    let c = Component::Node(n);
    let (what, before) = describe(env, c).await;
    env.restart_with(c, overrides).await?;
    r.effective_now();
    let (_, after) = describe(env, c).await;
    let flags = if overrides.is_empty() {
        "its usual flags".to_owned()
    } else {
        overrides
            .iter()
            .map(|(f, v)| format!("{f} {v}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    r.did.push(format!(
        "restarted {what} with {flags} (before: {before}; now: {after})"
    ));
    r.checks.push(Check::new(
        format!("{c} runs as a new process"),
        before != after,
        format!("before: {before}; after: {after}"),
    ));
    let recorded = env.overrides(c);
    let wanted: Vec<(String, String)> = overrides
        .iter()
        .map(|(f, v)| ((*f).to_owned(), (*v).to_owned()))
        .collect();
    r.checks.push(Check::new(
        format!("{c} runs with {flags}"),
        recorded == wanted,
        format!("recorded overrides: {recorded:?}"),
    ));
    r.checks.push(verify::nodes_ready(env).await);
    Ok(())
}
