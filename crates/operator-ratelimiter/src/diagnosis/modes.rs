//! Rules about the nodes' limiter modes: a node in a teaching mode (`--limiter-mode naive` or
//! `memory`) over-admits by design, and the cause is the mode, not a writer to find.

use operator_core::Context;
use operator_core::diagnosis::{Finding, Rule};
use ratelimiter_schema::LimiterMode;
use serde_json::Value;

use super::evidence::observations;
use crate::checker::OVER_ADMISSION;

pub(super) fn rules() -> Vec<Rule> {
    vec![
        Rule::new(
            "non_atomic_check_and_increment",
            &[OVER_ADMISSION],
            "non-atomic check-and-increment: nodes in --limiter-mode naive read a counter and \
             increment it in two separate Redis calls, so concurrent requests all pass the check \
             before any increment lands",
            "nodes reporting `limiter_mode` naive (in the ticket's evidence or the observations)",
            non_atomic_check_and_increment,
        ),
        Rule::new(
            "per_process_counters",
            &[OVER_ADMISSION],
            "per-process counters: nodes in --limiter-mode memory decide by counters in their own \
             memory, so each admits the whole limit",
            "nodes reporting `limiter_mode` memory (in the ticket's evidence or the observations)",
            per_process_counters,
        ),
    ]
}

/// The nodes in `mode` as the context tells: the ticket's evidence (a node's own ticket, or the
/// `limiter_modes` a counter ticket names), else the freshest observation naming any. Returns
/// the node ids and where that was read.
fn nodes_in(ctx: &Context, mode: LimiterMode) -> Option<(Vec<String>, String)> {
    let e = &ctx.ticket.evidence;
    let named = |v: &Value| v.as_str() == Some(mode.as_str());
    if e.get("limiter_mode").is_some_and(named) {
        let node = e.get("node").and_then(Value::as_str).unwrap_or("?");
        return Some((vec![node.to_owned()], "ticket.evidence.limiter_mode".into()));
    }
    if let Some(modes) = e.get("limiter_modes").and_then(Value::as_object) {
        let nodes: Vec<String> = modes
            .iter()
            .filter(|(_, m)| named(m))
            .map(|(n, _)| n.clone())
            .collect();
        if !nodes.is_empty() {
            return Some((nodes, "ticket.evidence.limiter_modes".into()));
        }
    }
    observations(ctx)
        .into_iter()
        .rev()
        .find_map(|(i, _, _, o)| {
            let nodes: Vec<String> = o
                .nodes
                .iter()
                .filter_map(|n| n.info.as_ref())
                .filter(|info| info.limiter_mode == mode)
                .map(|info| info.node_id.clone())
                .collect();
            (!nodes.is_empty()).then(|| {
                (
                    nodes,
                    format!("observations[{i}].observation.nodes[*].info.limiter_mode"),
                )
            })
        })
}

/// `: hot:1 admitted 187 of limit 100 (+87 %)`, from a counter ticket's evidence.
fn how_far_over(ctx: &Context) -> String {
    let Some(counters) = ctx
        .ticket
        .evidence
        .get("counters")
        .and_then(Value::as_array)
    else {
        return String::new();
    };
    let said: Vec<String> = counters
        .iter()
        .take(3)
        .filter_map(|c| {
            let (count, limit) = (c.get("count")?.as_u64()?, c.get("limit")?.as_u64()?);
            Some(format!(
                "{} {}",
                c.get("key")?.as_str()?,
                crate::checker::admitted_of_limit(count, limit)
            ))
        })
        .collect();
    if said.is_empty() {
        String::new()
    } else {
        format!(" ({})", said.join(", "))
    }
}

fn non_atomic_check_and_increment(ctx: &Context) -> Option<Finding> {
    let (nodes, source) = nodes_in(ctx, LimiterMode::Naive)?;
    Some(
        Finding::new(
            0.9,
            format!(
                "Node{} {} decide{} in limiter mode naive: each reads its counters and increments \
                 them in two separate Redis calls (non-atomic check-and-increment), so concurrent \
                 requests all pass the check before any increment lands and are admitted past the \
                 limit{}. Restart them with --limiter-mode atomic (the default), where one Lua \
                 script checks and consumes in one command; on a lab stack `operator chaos undo \
                 naive-mode` does it.",
                if nodes.len() == 1 { "" } else { "s" },
                nodes.join(", "),
                if nodes.len() == 1 { "s" } else { "" },
                how_far_over(ctx)
            ),
        )
        .cite(
            source,
            format!("limiter mode naive on {}", nodes.join(", ")),
        )
        .risk(
            "Resetting the counters does not help: the next burst is over-admitted again until \
             every node is atomic. The teaching modes must never run in production.",
        ),
    )
}

fn per_process_counters(ctx: &Context) -> Option<Finding> {
    let (nodes, source) = nodes_in(ctx, LimiterMode::Memory)?;
    Some(
        Finding::new(
            0.85,
            format!(
                "Node{} {} decide{} in limiter mode memory: counters live in each process only \
                 (per-process counters), Redis is not asked, so every such node admits the whole \
                 limit by itself (up to {} times each limit between them). Restart them with \
                 --limiter-mode atomic (the default).",
                if nodes.len() == 1 { "" } else { "s" },
                nodes.join(", "),
                if nodes.len() == 1 { "s" } else { "" },
                nodes.len()
            ),
        )
        .cite(
            source,
            format!("limiter mode memory on {}", nodes.join(", ")),
        )
        .risk(
            "Nothing in Redis shows what these nodes admitted: the operator's counter scan cannot \
             see their over-admission. The teaching modes must never run in production.",
        ),
    )
}
