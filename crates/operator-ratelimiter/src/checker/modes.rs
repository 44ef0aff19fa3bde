//! The nodes' limiter modes, as `over_admission` reports them: a node in a teaching mode
//! (`--limiter-mode naive` or `memory`) is not exact, and how far a counter is over its limit.
//! `nodes` builds the violations from these.

use ratelimiter_schema::LimiterMode;
use serde_json::{Value, json};

use crate::observation::{NodeView, Observation};

/// The nodes of `o` deciding in a mode that is not exact, with their mode.
pub(crate) fn inexact_nodes(o: &Observation) -> Vec<(&NodeView, LimiterMode)> {
    o.nodes
        .iter()
        .filter_map(|n| {
            let mode = n.info.as_ref()?.limiter_mode;
            (!mode.is_exact()).then_some((n, mode))
        })
        .collect()
}

/// `+87 %`: how far `count` is past `limit` (rounded down).
pub(crate) fn over_percent(count: u64, limit: u64) -> String {
    let over = count.saturating_sub(limit);
    format!("+{} %", over.saturating_mul(100) / limit.max(1))
}

/// What a counter over its limit tells, e.g. `admitted 187 of limit 100 (+87 %)`.
pub(crate) fn admitted_of_limit(count: u64, limit: u64) -> String {
    format!(
        "admitted {count} of limit {limit} ({})",
        over_percent(count, limit)
    )
}

/// `; nodes a (127.0.0.1:1), b decide in limiter mode naive (non-atomic check-and-increment)`,
/// and the evidence `{node id: mode}`, when any node is in a teaching mode.
pub(crate) fn naming(o: &Observation) -> Option<(String, Value)> {
    let inexact = inexact_nodes(o);
    if inexact.is_empty() {
        return None;
    }
    let parts: Vec<String> = [LimiterMode::Naive, LimiterMode::Memory]
        .iter()
        .filter(|mode| inexact.iter().any(|(_, m)| m == *mode))
        .map(|mode| {
            let names: Vec<String> = inexact
                .iter()
                .filter(|(_, m)| m == mode)
                .map(|(n, _)| n.label())
                .collect();
            format!(
                "node{} {} decide{} in limiter mode {mode} ({})",
                if names.len() == 1 { "" } else { "s" },
                names.join(", "),
                if names.len() == 1 { "s" } else { "" },
                mode.flaw().unwrap_or("exact")
            )
        })
        .collect();
    let evidence: serde_json::Map<String, Value> = inexact
        .iter()
        .map(|(n, m)| (n.id().unwrap_or(&n.addr).to_owned(), json!(m)))
        .collect();
    Some((format!("; {}", parts.join("; ")), Value::Object(evidence)))
}

/// The message and evidence of node `n` deciding in a teaching mode, if it does (`in_memory`:
/// how many nodes decide in mode `memory`).
pub(crate) fn inexact_mode(n: &NodeView, in_memory: usize) -> Option<(String, Value)> {
    let info = n.info.as_ref()?;
    let mode = info.limiter_mode;
    let flaw = mode.flaw()?;
    let what = match mode {
        LimiterMode::Naive => "it reads a counter and increments it in two separate Redis calls, \
             so concurrent requests all pass the check before any increment lands and are \
             admitted past the limit"
            .to_owned(),
        LimiterMode::Memory | LimiterMode::Atomic if in_memory > 1 => format!(
            "its counters are in its own memory, so it admits every limit by itself: the \
             {in_memory} nodes in this mode admit up to {in_memory} times each limit between them"
        ),
        LimiterMode::Memory | LimiterMode::Atomic => "its counters are in its own memory, so it \
             admits every limit by itself, on top of what the other nodes admit"
            .to_owned(),
    };
    Some((
        format!(
            "node {} decides in limiter mode {mode} ({flaw}), a teaching mode that is not exact: \
             {what}; restart it with --limiter-mode atomic",
            n.label()
        ),
        json!({ "node": info.node_id, "limiter_mode": mode, "flaw": flaw }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn how_far_over_is_a_percentage_of_the_limit() {
        assert_eq!(
            admitted_of_limit(187, 100),
            "admitted 187 of limit 100 (+87 %)"
        );
        assert_eq!(over_percent(100, 100), "+0 %");
        assert_eq!(over_percent(3, 0), "+300 %");
    }
}
