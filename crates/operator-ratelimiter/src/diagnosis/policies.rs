//! Rules about the policies in Redis: lost by a restart, deleted, invalid, not reloaded.

use operator_core::Context;
use operator_core::diagnosis::{Finding, Recommendation, Rule};
use serde_json::Value;

use super::evidence::{concurrent, evidence_str, observations};
use crate::action::RateLimitAction;
use crate::checker::{CONFIG_LOADED, COUNTER_DRIFT, NODE_DOWN, REDIS_HEALTHY};
use crate::observation::Observation;

pub(super) fn rules() -> Vec<Rule> {
    vec![
        Rule::new(
            "redis_restarted_empty",
            &[CONFIG_LOADED, REDIS_HEALTHY],
            "Redis restarted without its data: the policies and counters were lost",
            "Redis `run_id` changed between observations and the policies are missing or were \
             re-seeded at another version",
            restarted_empty,
        ),
        Rule::new(
            "policies_deleted",
            &[CONFIG_LOADED, NODE_DOWN],
            "the policies hash was deleted from Redis (or expired) while Redis kept running",
            "no policies hash with the same Redis `run_id` as before; nodes not ready because \
             Redis holds no policies",
            policies_deleted,
        ),
        Rule::new(
            "policies_invalid",
            &[CONFIG_LOADED],
            "the policies hash holds fields that do not parse",
            "`invalid` fields or no `version` field in the policies hash",
            policies_invalid,
        ),
        Rule::new(
            "stale_node_policies",
            &[CONFIG_LOADED, COUNTER_DRIFT],
            "the policies were changed in Redis without bumping their version, so the nodes did \
             not reload them",
            "a node serving another digest than Redis at the same version",
            stale_node_policies,
        ),
    ]
}

/// `(index, run_id before, index, run_id after)` of the last Redis restart seen.
fn restart(
    obs: &[(
        usize,
        chrono::DateTime<chrono::Utc>,
        operator_core::context::Phase,
        Observation,
    )],
) -> Option<(usize, String, usize, String, u64)> {
    let with_info: Vec<(usize, &crate::info::RedisInfo)> = obs
        .iter()
        .filter_map(|(i, _, _, o)| o.redis.info.as_ref().map(|info| (*i, info)))
        .collect();
    with_info
        .windows(2)
        .rev()
        .find(|w| w[0].1.run_id != w[1].1.run_id)
        .map(|w| {
            (
                w[0].0,
                w[0].1.run_id.clone(),
                w[1].0,
                w[1].1.run_id.clone(),
                w[1].1.uptime_s,
            )
        })
}

fn restarted_empty(ctx: &Context) -> Option<Finding> {
    let obs = observations(ctx);
    let said = ctx.ticket.message.contains("Redis restarted");
    let (lost_now, version_now) = obs
        .last()
        .and_then(|(_, _, _, o)| o.redis.policies.as_ref())
        .map_or((false, None), |p| (!p.present, p.version));
    let Some((i, before, j, after, uptime)) = restart(&obs) else {
        if said {
            return Some(
                Finding::new(0.8, ctx.ticket.message.clone())
                    .cite("ticket.message", ctx.ticket.message.clone()),
            );
        }
        return None;
    };
    let mut f = Finding::new(
        if said || lost_now { 0.9 } else { 0.6 },
        format!(
            "Redis restarted (run_id {before} → {after}, up {uptime} s) without its data: every \
             counter restarted from zero{}.",
            if lost_now {
                " and the policies are gone; reseed_policies writes back the last set the operator saw"
            } else {
                ", and the nodes re-seeded the policies they held in memory (changes made \
                 through the API survive; a node that restarted meanwhile would have seeded its \
                 --policies file instead)"
            }
        ),
    )
    .cite(format!("observations[{i}].observation.redis.info.run_id"), before)
    .cite(format!("observations[{j}].observation.redis.info.run_id"), after)
    .cite(
        format!("observations[{j}].observation.redis.info.uptime_s"),
        uptime.to_string(),
    )
    .risk("Counters lost with the data: every user got a fresh window.")
    .risk("Enable persistence (AOF) so that a restart keeps the policies and counters.");
    if lost_now {
        f = f
            .cite(
                "observations[-1].observation.redis.policies.present",
                "false",
            )
            .action(Recommendation::typed(
                &RateLimitAction::ReseedPolicies {},
                "restores the last policy set the operator observed in Redis",
            ));
    } else if let Some(v) = version_now {
        f = f.cite(
            "observations[-1].observation.redis.policies.version",
            v.to_string(),
        );
    }
    Some(f)
}

fn policies_missing_reason(ctx: &Context) -> Option<(String, String)> {
    let t = &ctx.ticket;
    if t.invariant == CONFIG_LOADED && t.message.contains("no policies in Redis") {
        return Some(("ticket.message".into(), t.message.clone()));
    }
    if t.invariant == NODE_DOWN
        && let Some(reason) = evidence_str(ctx, "reason").filter(|r| r.contains("no policies"))
    {
        return Some(("ticket.evidence.reason".into(), reason.to_owned()));
    }
    None
}

fn policies_deleted(ctx: &Context) -> Option<Finding> {
    let (source, detail) = policies_missing_reason(ctx)?;
    let obs = observations(ctx);
    if restart(&obs).is_some() {
        return None;
    }
    let run_ids: Vec<(usize, &str)> = obs
        .iter()
        .filter_map(|(i, _, _, o)| o.redis.info.as_ref().map(|info| (*i, info.run_id.as_str())))
        .collect();
    let same_server = run_ids.len() >= 2;
    let last_seen = obs.iter().rev().find_map(|(i, _, _, o)| {
        o.redis
            .policies
            .as_ref()
            .filter(|p| p.present)
            .map(|p| (*i, p.version.unwrap_or(0), p.policies.len()))
    });
    let key = ratelimiter_schema::keys::policies_key(
        obs.last()
            .map_or("ratelimit:", |(_, _, _, o)| o.key_prefix.as_str()),
    );
    let symptom = ctx.ticket.invariant == NODE_DOWN;
    let mut summary = format!(
        "The policies hash {key:?} is gone from Redis although Redis did not restart: it was \
         deleted (DEL, FLUSHDB, another client) or expired. The nodes keep serving the policies \
         they cached but report not ready, and a node that restarts now would seed its own file."
    );
    if let Some((_, version, n)) = last_seen {
        summary.push_str(&format!(
            " reseed_policies writes back the {n} policies last seen at version {version}."
        ));
    }
    if symptom {
        summary = format!(
            "Node {} is not ready because Redis holds no policies: a symptom. {summary}",
            ctx.ticket.entity.as_deref().unwrap_or("?")
        );
    }
    let mut f = Finding::new(
        match (symptom, same_server) {
            (true, _) => 0.85,
            (false, true) => 0.85,
            (false, false) => 0.7,
        },
        summary,
    )
    .cite(source, detail)
    .action(Recommendation::typed(
        &RateLimitAction::ReseedPolicies {},
        "writes back the last valid policy set the operator observed in Redis",
    ))
    .risk(
        "reseed_policies restores the set the operator last saw: a change made after its last \
         observation would be lost.",
    )
    .risk("Until the policies are back, a node that restarts seeds its own --policies file.");
    if let Some((i, id)) = run_ids.last().filter(|_| same_server) {
        f = f.cite(
            format!("observations[{i}].observation.redis.info.run_id"),
            format!("{id}, unchanged: Redis did not restart"),
        );
    }
    if let Some((i, version, n)) = last_seen {
        f = f.cite(
            format!("observations[{i}].observation.redis.policies"),
            format!("{n} policies at version {version}, last seen present"),
        );
    }
    let waiting: Vec<String> = concurrent(ctx, NODE_DOWN)
        .into_iter()
        .filter(|r| r.message.contains("no policies"))
        .map(|r| format!("#{}", r.id))
        .collect();
    if !waiting.is_empty() {
        f = f.cite(
            "concurrent",
            format!(
                "nodes not ready for the same reason: {}",
                waiting.join(", ")
            ),
        );
    }
    Some(f)
}

fn policies_invalid(ctx: &Context) -> Option<Finding> {
    let t = &ctx.ticket;
    if t.invariant != CONFIG_LOADED || !t.message.contains("invalid") {
        return None;
    }
    let invalid = t.evidence.get("invalid").cloned().unwrap_or(Value::Null);
    Some(
        Finding::new(
            0.9,
            format!(
                "{}. Fix or delete the bad fields by hand (a policy PUT through a node rewrites \
                 one), then bump the version.",
                t.message
            ),
        )
        .cite("ticket.evidence.invalid", invalid.to_string())
        .risk("Nodes skip invalid policies: keys they matched fall to other policies or default."),
    )
}

fn stale_node_policies(ctx: &Context) -> Option<Finding> {
    let e = &ctx.ticket.evidence;
    let (node_v, redis_v) = (
        e.get("node_version")?.as_u64()?,
        e.get("redis_version")?.as_u64()?,
    );
    let f = if node_v == redis_v {
        Finding::new(
            0.85,
            format!(
                "Node {} serves version {node_v} with another digest than Redis holds at the same \
                 version: the policies were edited in Redis without bumping `version`, and nodes \
                 reload only when it moves. `HINCRBY <prefix>policies version 1` makes every node \
                 reload.",
                ctx.ticket.entity.as_deref().unwrap_or("?")
            ),
        )
    } else {
        Finding::new(
            0.6,
            format!(
                "Node {} still serves version {node_v} while Redis holds {redis_v}: it does not \
                 reload (its policy poll fails, or it is frozen).",
                ctx.ticket.entity.as_deref().unwrap_or("?")
            ),
        )
        .cause("the node does not reload its policies")
    };
    Some(
        f.cite("ticket.evidence.node_version", node_v.to_string())
            .cite("ticket.evidence.redis_version", redis_v.to_string())
            .risk("Until they reload, nodes enforce different limits for the same keys."),
    )
}
