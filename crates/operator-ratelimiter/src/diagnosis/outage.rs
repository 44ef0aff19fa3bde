//! `redis_down`: Redis is down or cut off. Which failure it is comes from the kind of the error
//! (refused, timed out, cut), read from the freshest observation and from what the ticket
//! recorded; the nodes' failure modes say what the outage costs meanwhile.

use operator_core::Context;
use operator_core::assess::Status;
use operator_core::diagnosis::Finding;

use super::evidence::{concurrent, error_kind, evidence_str, latest};
use super::wording::plural;
use crate::checker::REDIS_HEALTHY;
use crate::error::ErrorKind;
use crate::observation::Observation;

/// What the nodes do while Redis is unusable, the risk of every Redis outage.
pub(super) const FAILURE_MODES_RISK: &str = "While Redis is unusable every node decides by its \
    failure mode: `local` enforces each node's share of every limit in process (limits are no \
    longer shared), `open` admits everything, `closed` refuses everything.";

/// One reading of the error Redis gave: its text, its kind when known, and where it was read.
#[derive(Clone)]
struct Reading {
    error: String,
    kind: Option<ErrorKind>,
    source: String,
}

pub(super) fn redis_down(ctx: &Context) -> Option<Finding> {
    let t = &ctx.ticket;
    let latest = latest(ctx);
    let direct = t.invariant == REDIS_HEALTHY && t.message.contains("unreachable");
    // The freshest error says most: the first failure on an open connection is often a broken
    // pipe, the next ones tell a refused connection from a timeout.
    let fresh = latest.as_ref().and_then(|(i, o)| fresh_reading(*i, o));
    let recorded = recorded_reading(ctx, direct);
    let reading = fresh.clone().or_else(|| recorded.clone())?;
    let url = evidence_str(ctx, "url")
        .map(str::to_owned)
        .or_else(|| latest.as_ref().map(|(_, o)| o.redis.url.clone()))
        .unwrap_or_else(|| "its address".into());
    let cause = cause(&url, &reading);
    let nodes_down: Vec<String> = latest
        .as_ref()
        .map(|(_, o)| {
            o.nodes
                .iter()
                .filter(|n| n.info.as_ref().is_some_and(|i| !i.redis_ok))
                .map(|n| n.label())
                .collect()
        })
        .unwrap_or_default();
    let summary = if direct {
        let nodes = if nodes_down.is_empty() {
            String::new()
        } else {
            format!(
                " {} report Redis down and decide by their failure mode.",
                plural(nodes_down.len(), "node", "nodes")
            )
        };
        format!(
            "{cause}.{nodes} No declared action can restart Redis: start it (or restore the path \
             to it); then check that the policies are back (config_loaded)."
        )
    } else {
        format!(
            "This {} violation is a symptom: {cause}. Fix Redis first; it clears when Redis is \
             back.",
            t.invariant
        )
    };
    // What the ticket recorded, then the fresh error when it says something else.
    let mut f = Finding::new(if direct { 0.9 } else { 0.85 }, summary).cause(cause);
    match &recorded {
        Some(first) => {
            f = f.cite(first.source.clone(), first.error.clone());
            if fresh.is_some() && first.error != reading.error {
                f = f.cite(reading.source, reading.error);
            }
        }
        None => f = f.cite(reading.source, reading.error),
    }
    if let Some((i, o)) = &latest {
        f = cite_nodes(f, *i, o, &nodes_down);
    }
    if let Some(now) = ctx.now.as_ref().filter(|_| direct) {
        let said = match now.status {
            Status::Violated => "Redis is still unreachable now",
            Status::Clear => "Redis answers again now",
            Status::Unknown => "not evaluated now",
        };
        f = f.cite("now.status", said);
    }
    Some(f.risk(FAILURE_MODES_RISK).risk(
        "If Redis comes back without persistence it is empty: counters restart from zero \
                 and the nodes re-seed the policies from memory (watch for config_loaded).",
    ))
}

/// The error of observation `i` when Redis did not answer it.
fn fresh_reading(i: usize, o: &Observation) -> Option<Reading> {
    (!o.redis.reachable).then(|| Reading {
        error: o.redis.error.clone().unwrap_or_else(|| "no answer".into()),
        kind: o.redis.error_kind,
        source: format!("observations[{i}].observation.redis.error"),
    })
}

/// The error the ticket recorded (`direct`: it is Redis's own ticket), else the one of an open
/// `redis_healthy` ticket that says Redis is unreachable.
fn recorded_reading(ctx: &Context, direct: bool) -> Option<Reading> {
    if direct {
        return Some(Reading {
            error: evidence_str(ctx, "error").unwrap_or("no answer").to_owned(),
            kind: error_kind(&ctx.ticket.evidence),
            source: "ticket.evidence.error".to_owned(),
        });
    }
    concurrent(ctx, REDIS_HEALTHY)
        .into_iter()
        .find(|r| r.message.contains("unreachable"))
        .map(|r| Reading {
            error: r.message.clone(),
            kind: error_kind(&r.evidence),
            source: format!("concurrent[#{}].message", r.id),
        })
}

/// The cause a reading of Redis at `url` tells, by its kind.
fn cause(url: &str, reading: &Reading) -> String {
    let error = &reading.error;
    match reading.kind {
        Some(ErrorKind::Refused) => format!(
            "Redis at {url} is down: connections are refused, so no server listens there (the \
             process stopped, crashed or was killed)"
        ),
        Some(ErrorKind::TimedOut) => format!(
            "Redis at {url} does not answer in time: it is frozen (stopped, blocked by a long \
             command) or the network path to it is cut"
        ),
        Some(ErrorKind::Reset) => format!(
            "Redis at {url} closed its connections ({error}): it stopped, crashed or restarted"
        ),
        Some(ErrorKind::Dns | ErrorKind::Unauthorized | ErrorKind::Other) | None => {
            format!("Redis at {url} is unreachable: {error}")
        }
    }
}

/// Cites, from observation `i`, the nodes that report Redis down and every node's failure-mode
/// decisions.
fn cite_nodes(mut f: Finding, i: usize, o: &Observation, nodes_down: &[String]) -> Finding {
    if !nodes_down.is_empty() {
        f = f.cite(
            format!("observations[{i}].observation.nodes[*].info.redis_ok"),
            format!("false for {}", nodes_down.join(", ")),
        );
    }
    let modes: Vec<String> = o
        .nodes
        .iter()
        .filter_map(|n| {
            n.info.as_ref().map(|i| {
                format!(
                    "{} {} (open {}, local {}, closed {})",
                    n.label(),
                    i.failure_mode,
                    i.failure_decisions.open,
                    i.failure_decisions.local,
                    i.failure_decisions.closed
                )
            })
        })
        .collect();
    if !modes.is_empty() {
        f = f.cite(
            format!("observations[{i}].observation.nodes[*].info.failure_decisions"),
            modes.join("; "),
        );
    }
    f
}
