//! Rules about Redis and the data in it: down, restarted empty, policies lost or broken, keys
//! without TTL, eviction, a flushed script cache.

use std::collections::BTreeMap;

use operator_core::Context;
use operator_core::diagnosis::{Finding, Recommendation, Rule};
use serde_json::Value;

use super::{concurrent, evidence_str, latest, observations, plural};
use crate::action::RateLimitAction;
use crate::invariants::{
    CONFIG_LOADED, COUNTER_DRIFT, HIGH_LATENCY, NO_STUCK_KEYS, NODE_DOWN, OVER_ADMISSION,
    REDIS_HEALTHY,
};
use crate::observation::Observation;

const FAILURE_MODES_RISK: &str = "While Redis is unusable every node decides by its failure mode: \
    `local` enforces each node's share of every limit in process (limits are no longer shared), \
    `open` admits everything, `closed` refuses everything.";

pub(super) fn rules() -> Vec<Rule> {
    vec![
        Rule::new(
            "redis_down",
            &[
                REDIS_HEALTHY,
                OVER_ADMISSION,
                NODE_DOWN,
                CONFIG_LOADED,
                HIGH_LATENCY,
            ],
            "Redis is down or unreachable",
            "the monitor cannot reach Redis (`redis.reachable` false, `redis_healthy` says \
             unreachable): refused means no server listens, a timeout means it is frozen or cut off",
            redis_down,
        ),
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
        Rule::new(
            "keys_without_ttl",
            &[NO_STUCK_KEYS],
            "keys under the prefix were written without a TTL",
            "keys listed stuck, by kind: counters (written past the nodes' script), other keys \
             (another writer under the prefix), the policies or registry (TTL removed)",
            keys_without_ttl,
        ),
        Rule::new(
            "eviction_under_maxmemory",
            &[REDIS_HEALTHY, NO_STUCK_KEYS],
            "Redis is at maxmemory and evicts keys",
            "`evicted_keys` growing with the same `run_id`, or used memory near `maxmemory`",
            eviction,
        ),
        Rule::new(
            "script_cache_flushed",
            &[HIGH_LATENCY, OVER_ADMISSION, REDIS_HEALTHY],
            "Redis's script cache was flushed (SCRIPT FLUSH), so every node's next EVALSHA failed \
             with NOSCRIPT and reloaded its script",
            "`number_of_cached_scripts` fell to 0 with the same `run_id`, or NOSCRIPT errors in \
             Redis's error statistics",
            script_cache_flushed,
        ),
        Rule::new(
            "redis_degraded",
            &[REDIS_HEALTHY],
            "Redis answers but is degraded (slow, a replica, loading)",
            "the causes listed in the `redis_healthy` evidence",
            redis_degraded,
        ),
    ]
}

fn redis_down(ctx: &Context) -> Option<Finding> {
    let t = &ctx.ticket;
    let latest = latest(ctx);
    let direct = t.invariant == REDIS_HEALTHY && t.message.contains("unreachable");
    // The freshest error says most: the first failure on an open connection is often a broken
    // pipe, the next ones tell a refused connection from a timeout.
    let fresh = latest
        .as_ref()
        .filter(|(_, o)| !o.redis.reachable)
        .map(|(i, o)| {
            (
                o.redis.error.clone().unwrap_or_else(|| "no answer".into()),
                format!("observations[{i}].observation.redis.error"),
            )
        });
    let recorded = if direct {
        Some((
            evidence_str(ctx, "error").unwrap_or("no answer").to_owned(),
            "ticket.evidence.error".to_owned(),
        ))
    } else {
        concurrent(ctx, REDIS_HEALTHY)
            .into_iter()
            .find(|r| r.message.contains("unreachable"))
            .map(|r| (r.message.clone(), format!("concurrent[#{}].message", r.id)))
    };
    let (error, source) = fresh.clone().or_else(|| recorded.clone())?;
    let url = evidence_str(ctx, "url")
        .map(str::to_owned)
        .or_else(|| latest.as_ref().map(|(_, o)| o.redis.url.clone()))
        .unwrap_or_else(|| "its address".into());
    let lower = error.to_lowercase();
    let cut = [
        "broken pipe",
        "reset by peer",
        "connection reset",
        "terminated",
        "closed",
    ];
    let cause = if lower.contains("refused") {
        format!(
            "Redis at {url} is down: connections are refused, so no server listens there (the \
             process stopped, crashed or was killed)"
        )
    } else if lower.contains("did not answer") || lower.contains("timed out") {
        format!(
            "Redis at {url} does not answer in time: it is frozen (stopped, blocked by a long \
             command) or the network path to it is cut"
        )
    } else if cut.iter().any(|c| lower.contains(c)) {
        format!("Redis at {url} closed its connections ({error}): it stopped, crashed or restarted")
    } else {
        format!("Redis at {url} is unreachable: {error}")
    };
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
        format!(
            "{cause}. {} report Redis down and decide by their failure mode. No declared action \
             can restart Redis: start it (or restore the path to it); then check that the \
             policies are back (config_loaded).",
            plural(nodes_down.len(), "node", "nodes")
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
        Some((first, at)) => {
            f = f.cite(at.clone(), first.clone());
            if fresh.is_some() && *first != error {
                f = f.cite(source, error);
            }
        }
        None => f = f.cite(source, error),
    }
    if let Some((i, o)) = &latest {
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
    }
    if let Some(now) = ctx.now.as_ref().filter(|_| direct) {
        let said = match now.status {
            operator_core::assess::Status::Violated => "Redis is still unreachable now",
            operator_core::assess::Status::Clear => "Redis answers again now",
            operator_core::assess::Status::Unknown => "not evaluated now",
        };
        f = f.cite("now.status", said);
    }
    Some(f.risk(FAILURE_MODES_RISK).risk(
        "If Redis comes back without persistence it is empty: counters restart from zero \
                 and the nodes re-seed the policies from memory (watch for config_loaded).",
    ))
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
                ", and the nodes re-seeded the policies from memory, losing any change made \
                 through the API since they loaded them"
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
    let key = format!(
        "{}policies",
        obs.last()
            .map_or("ratelimit:", |(_, _, _, o)| o.key_prefix.as_str())
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

fn keys_without_ttl(ctx: &Context) -> Option<Finding> {
    let stuck = ctx.ticket.evidence.get("stuck")?.as_array()?;
    let total = ctx
        .ticket
        .evidence
        .get("stuck_total")
        .and_then(Value::as_u64)
        .unwrap_or(stuck.len() as u64);
    let mut by_kind: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for k in stuck {
        by_kind
            .entry(k.get("kind").and_then(Value::as_str).unwrap_or("other"))
            .or_default()
            .push(k.get("key").and_then(Value::as_str).unwrap_or("?"));
    }
    let mut causes = Vec::new();
    if by_kind.contains_key("counter") {
        causes.push("counters written without PEXPIRE (by code other than the nodes' script)");
    }
    if by_kind.contains_key("other") {
        causes.push("keys of another writer (an application or a person) under the prefix");
    }
    if by_kind.contains_key("policies") || by_kind.contains_key("nodes") {
        causes.push("the TTL of the policies hash or the node registry was removed (PERSIST)");
    }
    let kinds: Vec<String> = by_kind
        .iter()
        .map(|(k, keys)| format!("{k}: {}", keys.join(", ")))
        .collect();
    let mut f = Finding::new(
        0.9,
        format!(
            "{} under the prefix never {}: {}. repair_stuck_keys gives each the TTL its kind \
             should have (PEXPIRE NX, so keys that got one meanwhile are left alone).",
            plural(usize::try_from(total).unwrap_or(usize::MAX), "key", "keys"),
            if total == 1 { "expires" } else { "expire" },
            kinds.join("; ")
        ),
    )
    .cause(format!("keys written without a TTL: {}", causes.join("; ")))
    .cite("ticket.evidence.stuck", kinds.join("; "))
    .action(Recommendation::typed(
        &RateLimitAction::RepairStuckKeys {},
        "gives every key without a TTL the TTL of its kind",
    ));
    if by_kind.contains_key("other") {
        f = f.risk(
            "Keys of kind `other` get the fallback TTL and will expire: if another application \
             owns them, it loses them; find the writer.",
        );
    }
    Some(f.risk("Whatever wrote them will write more unless it is found."))
}

fn eviction(ctx: &Context) -> Option<Finding> {
    let obs = observations(ctx);
    let evicted = ctx
        .ticket
        .evidence
        .get("evicted_since_last")
        .and_then(Value::as_u64)
        .or_else(|| {
            let infos: Vec<&crate::info::RedisInfo> = obs
                .iter()
                .filter_map(|(_, _, _, o)| o.redis.info.as_ref())
                .collect();
            let (first, last) = (infos.first()?, infos.last()?);
            (first.run_id == last.run_id && last.evicted_keys > first.evicted_keys)
                .then(|| last.evicted_keys - first.evicted_keys)
        });
    let info = obs
        .iter()
        .rev()
        .find_map(|(_, _, _, o)| o.redis.info.clone());
    let ratio = info.as_ref().and_then(crate::info::RedisInfo::memory_ratio);
    let full = ratio.is_some_and(|r| r >= 0.9);
    if evicted.is_none() && !full {
        return None;
    }
    let policy = info
        .as_ref()
        .map_or_else(|| "?".to_owned(), |i| i.maxmemory_policy.clone());
    let mut f = Finding::new(
        if evicted.is_some() { 0.85 } else { 0.6 },
        format!(
            "Redis is at its memory limit (policy {policy}){}: an evicted counter resets its \
             user's limit, an evicted policies hash drops the configuration. Raise maxmemory, \
             or find what fills it.",
            evicted.map_or_else(String::new, |n| format!(" and evicted {n} keys"))
        ),
    )
    .risk("While it evicts, limits are not enforced for the users whose counters go.")
    .risk("Changing maxmemory or the eviction policy is a capacity decision for a human.");
    if let Some(n) = evicted {
        f = f.cite("ticket.evidence.evicted_since_last", n.to_string());
    }
    if let (Some(r), Some(i)) = (ratio, &info) {
        f = f.cite(
            "observations[-1].observation.redis.info",
            format!(
                "used_memory {} of maxmemory {} ({:.0}%)",
                i.used_memory,
                i.maxmemory,
                r * 100.0
            ),
        );
    }
    let stuck = !concurrent(ctx, NO_STUCK_KEYS).is_empty()
        || obs
            .last()
            .and_then(|(_, _, _, o)| o.redis.keys.as_ref())
            .is_some_and(|k| k.stuck_total > 0);
    if stuck {
        f = f.action(Recommendation::typed(
            &RateLimitAction::RepairStuckKeys {},
            "keys without a TTL never leave on their own; with one they expire and free memory",
        ));
    }
    Some(f)
}

fn script_cache_flushed(ctx: &Context) -> Option<Finding> {
    let obs = observations(ctx);
    let drop = obs.windows(2).rev().find_map(|w| {
        let (a, b) = (w[0].3.redis.info.as_ref()?, w[1].3.redis.info.as_ref()?);
        (a.run_id == b.run_id && b.cached_scripts < a.cached_scripts)
            .then(|| (w[0].0, a.cached_scripts, w[1].0, b.cached_scripts))
    });
    let noscript = ctx
        .extra("redis_info")
        .and_then(|v| v.get("errorstat_NOSCRIPT"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    if drop.is_none() && noscript.is_none() {
        return None;
    }
    let mut f = Finding::new(
        if drop.is_some() { 0.75 } else { 0.6 },
        "Redis's script cache was emptied with the same server running (SCRIPT FLUSH): each \
         node's next EVALSHA failed with NOSCRIPT and reloaded its script, adding round trips. \
         Nodes recover by themselves; if it repeats, find the client that flushes (CLIENT LIST, \
         ACL LOG)."
            .to_owned(),
    )
    .risk("A flush during a Redis failover would look the same: check the role and run_id.");
    if let Some((i, before, j, after)) = drop {
        f = f
            .cite(
                format!("observations[{i}].observation.redis.info.cached_scripts"),
                before.to_string(),
            )
            .cite(
                format!("observations[{j}].observation.redis.info.cached_scripts"),
                format!("{after}, with the same run_id"),
            );
    }
    if let Some(n) = noscript {
        f = f.cite("extra.redis_info.errorstat_NOSCRIPT", n);
    }
    Some(f)
}

fn redis_degraded(ctx: &Context) -> Option<Finding> {
    let causes: Vec<String> = ctx
        .ticket
        .evidence
        .get("causes")?
        .as_array()?
        .iter()
        .filter_map(|c| c.as_str().map(str::to_owned))
        .collect();
    let first = causes.first()?;
    let cause = if first.contains("replica") {
        "Redis is a replica (a failover, or the operator points at the wrong server): counter \
         writes fail"
    } else if first.contains("loading") {
        "Redis is loading its data set after a restart"
    } else if first.contains("PING took") {
        "Redis answers slowly: saturated, blocked by slow commands, or its host is overloaded"
    } else {
        return None;
    };
    Some(
        Finding::new(0.6, format!("{cause}. {}", ctx.ticket.message))
            .cause(cause)
            .cite("ticket.evidence.causes", causes.join("; "))
            .risk(FAILURE_MODES_RISK),
    )
}
