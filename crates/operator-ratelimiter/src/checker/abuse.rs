//! `abuse_detected`: what each node reports about abuse of its decision endpoints (`abuse` of
//! `/v1/node`): clients blocked for key enumeration or for using a honeypot key, and the memory
//! guard limiting new keys in process while Redis is near `maxmemory`.
//!
//! One violation per node, whatever the number of clients: a botnet blocked client by client
//! must not open a ticket per client, and the evidence names at most [`MAX_CLIENTS`] of them,
//! with the counts.

use std::collections::BTreeSet;

use operator_core::{History, Severity, Violation};
use ratelimiter_schema::{AbuseInfo, BlockReason, BlockedClient, NodeInfo};
use serde_json::json;

use super::history::previous_node;
use crate::observation::{NodeView, Observation};

/// `abuse_detected`: a node blocked clients or guarded Redis memory recently.
pub const ABUSE_DETECTED: &str = "abuse_detected";

/// Most blocked clients the evidence of one violation lists.
pub const MAX_CLIENTS: usize = 10;

/// What a node's abuse counters did since its previous observation (everything since it started
/// when it restarted; nothing when there is no previous observation, as counts since start may be
/// old).
#[derive(Debug, Default, PartialEq, Eq)]
struct Since {
    enumeration_blocks: u64,
    honeypot_hits: u64,
    blocked_requests: u64,
    guarded_decisions: u64,
}

fn since(now: &NodeInfo, before: Option<&NodeInfo>) -> Since {
    let Some(before) = before else {
        return Since::default();
    };
    let restarted = now.uptime_ms < before.uptime_ms || now.node_id != before.node_id;
    let (a, b) = (&now.abuse, &before.abuse);
    let d = |x: u64, y: u64| if restarted { x } else { x.saturating_sub(y) };
    Since {
        enumeration_blocks: d(a.enumeration_blocks, b.enumeration_blocks),
        honeypot_hits: d(a.honeypot_hits, b.honeypot_hits),
        blocked_requests: d(a.blocked_requests, b.blocked_requests),
        guarded_decisions: d(
            a.memory_guard.guarded_decisions,
            b.memory_guard.guarded_decisions,
        ),
    }
}

/// The blocks of `abuse` still in force at the node's time `now_ms`, newest first.
fn active_blocks(abuse: &AbuseInfo, now_ms: u64) -> Vec<&BlockedClient> {
    abuse
        .recent_blocks
        .iter()
        .filter(|b| b.until_ms > now_ms)
        .collect()
}

pub(crate) fn abuse_detected(o: &Observation, history: &History<Observation>) -> Vec<Violation> {
    o.nodes
        .iter()
        .filter_map(|n| node_abuse(n, history))
        .collect()
}

fn node_abuse(n: &NodeView, history: &History<Observation>) -> Option<Violation> {
    let info = n.info.as_ref()?;
    let abuse = &info.abuse;
    let before = previous_node(history, &n.addr).and_then(|p| p.info.as_ref());
    let new = since(info, before);
    let active = active_blocks(abuse, info.now_ms);
    let guard = &abuse.memory_guard;
    // Requests refused for blocks made by other nodes alone do not fire: those nodes report
    // the blocks, and one client must not open a ticket on every node.
    let only_refusals = Since {
        blocked_requests: new.blocked_requests,
        ..Since::default()
    } == new;
    if active.is_empty() && !guard.active && only_refusals {
        return None;
    }
    let clients: BTreeSet<&str> = active.iter().map(|b| b.client.as_str()).collect();
    let count = |r: BlockReason| active.iter().filter(|b| b.reason == r).count();
    let mut what: Vec<String> = Vec::new();
    let enumeration = count(BlockReason::Enumeration);
    if enumeration > 0 || new.enumeration_blocks > 0 {
        what.push(format!(
            "{} client{} blocked for key enumeration ({} new block{} since the last observation)",
            enumeration,
            plural(enumeration),
            new.enumeration_blocks,
            plural(new.enumeration_blocks as usize)
        ));
    }
    let honeypot = count(BlockReason::Honeypot);
    if honeypot > 0 || new.honeypot_hits > 0 {
        what.push(format!(
            "{} client{} blocked for using a honeypot key ({} new hit{})",
            honeypot,
            plural(honeypot),
            new.honeypot_hits,
            plural(new.honeypot_hits as usize)
        ));
    }
    if guard.active || new.guarded_decisions > 0 {
        let memory = match (guard.used_memory, guard.maxmemory) {
            (Some(u), Some(m)) if m > 0 => format!(
                " (Redis at {:.0}% of maxmemory)",
                u as f64 * 100.0 / m as f64
            ),
            _ => String::new(),
        };
        what.push(format!(
            "memory guard {}{memory}: {} decisions of new keys taken in process since the last \
             observation",
            if guard.active { "on" } else { "was on" },
            new.guarded_decisions
        ));
    }
    let listed: Vec<serde_json::Value> = active
        .iter()
        .take(MAX_CLIENTS)
        .map(|b| json!({ "client": b.client, "reason": b.reason, "distinct_keys": b.distinct_keys, "until_ms": b.until_ms }))
        .collect();
    Some(
        Violation::new(
            ABUSE_DETECTED,
            Severity::Warning,
            format!("node {}: {}", n.label(), what.join("; ")),
        )
        .entity(&n.addr)
        .evidence(json!({
            "node": info.node_id,
            "clients": listed,
            "clients_blocked": clients.len(),
            "clients_listed": listed.len(),
            "blocked_for_enumeration": enumeration,
            "blocked_for_honeypot": honeypot,
            "since_last": {
                "enumeration_blocks": new.enumeration_blocks,
                "honeypot_hits": new.honeypot_hits,
                "blocked_requests": new.blocked_requests,
                "guarded_decisions": new.guarded_decisions,
            },
            "totals": {
                "enumeration_blocks": abuse.enumeration_blocks,
                "honeypot_hits": abuse.honeypot_hits,
                "blocked_requests": abuse.blocked_requests,
            },
            "enumeration_limit": abuse.enumeration_limit,
            "memory_guard": guard,
        })),
    )
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
