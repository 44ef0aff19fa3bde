//! Rules about Redis itself: down, degraded, evicting, keys without TTL, a flushed script cache.

use std::collections::BTreeMap;

use operator_core::Context;
use operator_core::diagnosis::{Finding, Recommendation, Rule};
use serde_json::Value;

use super::evidence::{concurrent, observations};
use super::outage::{FAILURE_MODES_RISK, redis_down};
use super::wording::plural;
use crate::action::RateLimitAction;
use crate::checker::{
    CONFIG_LOADED, HIGH_LATENCY, NO_STUCK_KEYS, NODE_DOWN, OVER_ADMISSION, REDIS_HEALTHY,
};
use crate::observation::{KeyKind, StuckKey};

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
            "`number_of_cached_scripts` fell with the same `run_id` (NOSCRIPT errors in Redis's \
             error statistics back it; alone they say nothing: every node's first EVALSHA \
             gets one)",
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

fn keys_without_ttl(ctx: &Context) -> Option<Finding> {
    let stuck: Vec<StuckKey> = ctx
        .ticket
        .evidence
        .get("stuck")?
        .as_array()?
        .iter()
        .filter_map(|k| serde_json::from_value(k.clone()).ok())
        .collect();
    let total = ctx
        .ticket
        .evidence
        .get("stuck_total")
        .and_then(Value::as_u64)
        .unwrap_or(stuck.len() as u64);
    let mut by_kind: BTreeMap<KeyKind, Vec<&str>> = BTreeMap::new();
    for k in &stuck {
        by_kind.entry(k.kind).or_default().push(&k.key);
    }
    let mut causes = Vec::new();
    if by_kind.contains_key(&KeyKind::Counter) {
        causes.push("counters written without PEXPIRE (by code other than the nodes' script)");
    }
    if by_kind.contains_key(&KeyKind::Other) {
        causes.push("keys of another writer (an application or a person) under the prefix");
    }
    if by_kind.contains_key(&KeyKind::Policies) || by_kind.contains_key(&KeyKind::Nodes) {
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
    if by_kind.contains_key(&KeyKind::Other) {
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
    // NOSCRIPT errors alone say nothing: every node's first EVALSHA on a Redis fails with
    // NOSCRIPT (then it loads its script), so a stack has some from its start. They only back
    // a drop of the cache seen in the observations.
    let (i, before, j, after) = drop?;
    let mut f = Finding::new(
        0.75,
        "Redis's script cache was emptied with the same server running (SCRIPT FLUSH): each \
         node's next EVALSHA failed with NOSCRIPT and reloaded its script, adding round trips. \
         Nodes recover by themselves; if it repeats, find the client that flushes (CLIENT LIST, \
         ACL LOG)."
            .to_owned(),
    )
    .risk("A flush during a Redis failover would look the same: check the role and run_id.")
    .cite(
        format!("observations[{i}].observation.redis.info.cached_scripts"),
        before.to_string(),
    )
    .cite(
        format!("observations[{j}].observation.redis.info.cached_scripts"),
        format!("{after}, with the same run_id"),
    );
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
