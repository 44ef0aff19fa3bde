//! Rules about abuse a node reports (`abuse_detected`): key enumeration from one client, honeypot
//! keys used, and memory pressure from a flood of unique keys. Each names the cause and the safe
//! next step; the node has already blocked the clients, so none recommends an action on Redis,
//! except giving keys without a TTL theirs when they hold the memory.

use operator_core::Context;
use operator_core::diagnosis::{Finding, Recommendation, Rule};
use serde_json::Value;

use super::evidence::concurrent;
use crate::action::RateLimitAction;
use crate::checker::{ABUSE_DETECTED, NO_STUCK_KEYS};

pub(super) fn rules() -> Vec<Rule> {
    vec![
        Rule::new(
            "key_enumeration",
            &[ABUSE_DETECTED],
            "a client tries many distinct API keys, guessing for ones that work",
            "clients blocked for enumeration: more distinct API keys per minute than \
             --enumeration-limit",
            key_enumeration,
        ),
        Rule::new(
            "honeypot_hit",
            &[ABUSE_DETECTED],
            "a honeypot key, which no legitimate client holds, was used: it leaked from where \
             it was planted",
            "clients blocked for a honeypot key, or honeypot hits growing",
            honeypot_hit,
        ),
        Rule::new(
            "memory_pressure_from_key_flood",
            &[ABUSE_DETECTED],
            "a flood of unique keys fills Redis, each new key creating counters, until it nears \
             maxmemory",
            "the node's memory guard on, or decisions of new keys taken in process by it",
            memory_pressure,
        ),
    ]
}

/// `field` of the ticket's evidence as a number (0 when absent).
fn count(ctx: &Context, path: &[&str]) -> u64 {
    path.iter()
        .try_fold(&ctx.ticket.evidence, |v, k| v.get(*k))
        .and_then(Value::as_u64)
        .unwrap_or(0)
}

/// The fingerprints of the listed clients blocked for `reason`, with their key counts.
fn clients(ctx: &Context, reason: &str) -> Vec<String> {
    ctx.ticket
        .evidence
        .get("clients")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|c| c["reason"] == reason)
        .map(|c| match c["distinct_keys"].as_u64() {
            Some(k) => format!(
                "{} ({k} distinct keys)",
                c["client"].as_str().unwrap_or("?")
            ),
            None => c["client"].as_str().unwrap_or("?").to_owned(),
        })
        .collect()
}

fn node(ctx: &Context) -> &str {
    ctx.ticket.entity.as_deref().unwrap_or("?")
}

fn key_enumeration(ctx: &Context) -> Option<Finding> {
    let blocked = count(ctx, &["blocked_for_enumeration"]);
    let new = count(ctx, &["since_last", "enumeration_blocks"]);
    if blocked == 0 && new == 0 {
        return None;
    }
    let listed = clients(ctx, "enumeration");
    let limit = count(ctx, &["enumeration_limit"]);
    let mut f = Finding::new(
        0.85,
        format!(
            "Node {} blocked {blocked} client{} trying more than {limit} distinct API keys a \
             minute: key enumeration, guessing for keys that work. The node already refuses \
             every request from them for --enumeration-block, whatever the key; nothing needs \
             resetting. Next: check whether a guessed key was accepted before the block (rotate \
             it), and, if blocks keep coming from many clients, filter them upstream (firewall, \
             WAF).",
            node(ctx),
            if blocked == 1 { "" } else { "s" }
        ),
    )
    .risk(
        "Raising --enumeration-limit to quiet the alert lets guessing run faster; lowering it \
         can block legitimate clients that rotate many keys behind one address (check the \
         trusted proxies first).",
    );
    if !listed.is_empty() {
        f = f.cite("ticket.evidence.clients", listed.join(", "));
    }
    Some(f)
}

fn honeypot_hit(ctx: &Context) -> Option<Finding> {
    let blocked = count(ctx, &["blocked_for_honeypot"]);
    let hits = count(ctx, &["since_last", "honeypot_hits"]);
    if blocked == 0 && hits == 0 {
        return None;
    }
    let listed = clients(ctx, "honeypot");
    let mut f = Finding::new(
        0.9,
        format!(
            "Node {}: a honeypot key was used ({hits} new hit{}, {blocked} client{} blocked). No \
             legitimate client holds such a key: it was read from where it was planted (a \
             repository, a config file, documentation). The client is already blocked. Next: \
             find who could read that place, and treat the other secrets kept there as leaked.",
            node(ctx),
            if hits == 1 { "" } else { "s" },
            if blocked == 1 { "" } else { "s" }
        ),
    )
    .risk("Do not remove the honeypot key: it is what tells you the place is being read.");
    if !listed.is_empty() {
        f = f.cite("ticket.evidence.clients", listed.join(", "));
    }
    Some(f)
}

fn memory_pressure(ctx: &Context) -> Option<Finding> {
    let guard = ctx.ticket.evidence.get("memory_guard")?;
    let active = guard["active"].as_bool().unwrap_or(false);
    let guarded = count(ctx, &["since_last", "guarded_decisions"]);
    if !active && guarded == 0 {
        return None;
    }
    let memory = match (guard["used_memory"].as_u64(), guard["maxmemory"].as_u64()) {
        (Some(u), Some(m)) if m > 0 => format!(
            "Redis uses {u} of {m} bytes ({:.0}%, guard ratio {})",
            u as f64 * 100.0 / m as f64,
            guard["ratio"]
        ),
        _ => "Redis is near maxmemory".to_owned(),
    };
    let mut f = Finding::new(
        0.8,
        format!(
            "Node {}: memory pressure from a flood of unique keys. {memory}, so the memory \
             guard decides keys that have no counter yet in process, at the node's share of \
             their limit ({guarded} such decisions since the last observation); existing keys \
             keep exact limits. Next: find the source of the new keys (one client or many, \
             abuse_detected and the node logs tell), and give Redis more maxmemory if the \
             traffic is legitimate; counters expire on their own within two windows.",
            node(ctx)
        ),
    )
    .cite("ticket.evidence.memory_guard", guard.to_string())
    .risk(
        "Do not set maxmemory-policy to an eviction policy to make room: evicted counters \
         reset their clients' limits.",
    );
    if let Some(stuck) = concurrent(ctx, NO_STUCK_KEYS).first() {
        f = f
            .cite(
                format!("concurrent[#{}].message", stuck.id),
                stuck.message.clone(),
            )
            .action(Recommendation::typed(
                &RateLimitAction::RepairStuckKeys {},
                "keys without a TTL hold memory that never comes back",
            ));
    }
    Some(f)
}
