//! `naive-mode`: every node restarted with `--limiter-mode naive` (local only:
//! [`Environment::restart_with`]), seed 003's teaching mode in which a node reads its counters and
//! increments them in two separate Redis calls, so concurrent requests race past the limit (the
//! check-then-increment race). Its undo restarts them with their usual flags (atomic).

use super::fault::Fault;
use super::node_faults;
use super::report::{Check, FaultReport, command};
use super::verify;
use crate::environment::Environment;
use crate::error::Result;

/// The flag and value `naive-mode` gives every node.
const NAIVE: (&str, &str) = ("--limiter-mode", "naive");

/// Checks that every node reports `limiter_mode` `want` in `/v1/node`.
async fn every_node_reports(env: &dyn Environment, r: &mut FaultReport, want: &str) {
    let probe = match verify::nodes(env) {
        Ok(p) => p,
        Err(e) => {
            r.checks.push(Check::new(
                format!("every node decides in limiter mode {want}"),
                false,
                e.to_string(),
            ));
            return;
        }
    };
    for (i, url) in env.endpoints().nodes.iter().enumerate() {
        let (ok, detail) = match probe.info(url).await {
            Ok(info) => (
                info.limiter_mode.as_str() == want,
                format!("/v1/node says limiter_mode {}", info.limiter_mode),
            ),
            Err(e) => (false, e.to_string()),
        };
        r.checks.push(Check::new(
            format!("node-{} decides in limiter mode {want}", i + 1),
            ok,
            detail,
        ));
    }
}

pub(super) async fn naive(env: &dyn Environment, fault: &Fault) -> Result<FaultReport> {
    let mut r = FaultReport::new(
        fault,
        "inject",
        format!(
            "not undone by itself: `{} undo naive-mode` restarts every node with its usual flags \
             (limiter mode atomic)",
            command(env)
        ),
    );
    for n in 1..=env.endpoints().nodes.len() {
        node_faults::restart_with(env, &mut r, n, &[NAIVE]).await?;
    }
    every_node_reports(env, &mut r, "naive").await;
    r.did.push(
        "every node now reads a counter and increments it in separate calls: concurrent \
         requests for one key are admitted past its limit (send a burst to see it)"
            .to_owned(),
    );
    Ok(r)
}

pub(super) async fn undo_naive(env: &dyn Environment, fault: &Fault) -> Result<FaultReport> {
    let mut r = FaultReport::new(fault, "undo", "this is the undo of naive-mode");
    for n in 1..=env.endpoints().nodes.len() {
        node_faults::restart_with(env, &mut r, n, &[]).await?;
    }
    every_node_reports(env, &mut r, "atomic").await;
    r.checks.extend(verify::whole(env).await);
    Ok(r)
}
