//! `redis_healthy` and `no_stuck_keys`.

use operator_core::{History, Severity, Violation};
use serde_json::json;

use super::history::previous_redis;
use crate::config::Thresholds;
use crate::observation::Observation;

/// `redis_healthy`: Redis answers in time, is a primary, does not evict, serves reads.
pub const REDIS_HEALTHY: &str = "redis_healthy";
/// `no_stuck_keys`: every key under the prefix has a TTL.
pub const NO_STUCK_KEYS: &str = "no_stuck_keys";

/// Every reason Redis is unhealthy, folded into one violation at the worst severity.
pub(crate) fn redis_healthy(
    o: &Observation,
    history: &History<Observation>,
    t: &Thresholds,
) -> Option<Violation> {
    let r = &o.redis;
    if !r.reachable {
        return Some(unreachable(o));
    }
    if r.cluster.is_some() {
        // On a cluster each instance is checked on its own (`cluster::instances_healthy`).
        return None;
    }
    let mut causes: Vec<(Severity, String)> = Vec::new();
    // Sustained slowness only: this PING and the one before (a busy host delays one now and then).
    let slow = |us: u64| u128::from(us) > t.slow_ping.as_micros();
    let slow_before = previous_redis(history)
        .and_then(|p| p.redis.ping_us)
        .is_some_and(slow);
    if let Some(us) = r.ping_us.filter(|us| slow(*us) && slow_before) {
        causes.push((
            Severity::Warning,
            format!(
                "PING took {:.1} ms, and over {} ms the time before too",
                us as f64 / 1000.0,
                t.slow_ping.as_millis()
            ),
        ));
    }
    if let Some(e) = &r.error {
        causes.push((Severity::Critical, format!("answers PING but {e}")));
    }
    let mut evidence = json!({ "url": r.url, "ping_us": r.ping_us });
    if let Some(info) = &r.info {
        evidence["info"] = serde_json::to_value(info).unwrap_or_default();
        if info.role != "master" && !info.role.is_empty() {
            causes.push((
                Severity::Critical,
                format!("is a replica (role {}): counter writes fail", info.role),
            ));
        }
        if info.loading {
            causes.push((Severity::Warning, "is still loading its data set".into()));
        }
        let before = previous_redis(history)
            .and_then(|p| p.redis.info.as_ref())
            .filter(|p| p.run_id == info.run_id);
        if let Some(evicted) = before
            .map(|b| info.evicted_keys.saturating_sub(b.evicted_keys))
            .filter(|n| *n > 0)
        {
            evidence["evicted_since_last"] = json!(evicted);
            causes.push((
                Severity::Critical,
                format!(
                    "evicted {evicted} keys since the last observation (maxmemory-policy {}): evicted counters \
                     reset their users' limits",
                    info.maxmemory_policy
                ),
            ));
        }
        if let Some(ratio) = info.memory_ratio().filter(|r| *r >= t.memory_ratio) {
            causes.push((
                Severity::Warning,
                format!(
                    "uses {:.0}% of maxmemory ({} of {} bytes, policy {})",
                    ratio * 100.0,
                    info.used_memory,
                    info.maxmemory,
                    info.maxmemory_policy
                ),
            ));
        }
    }
    let severity = causes.iter().map(|c| c.0).max()?;
    let message = format!(
        "Redis at {} {}",
        r.url,
        causes
            .iter()
            .map(|c| c.1.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    );
    evidence["causes"] = json!(causes.iter().map(|c| &c.1).collect::<Vec<_>>());
    Some(Violation::new(REDIS_HEALTHY, severity, message).evidence(evidence))
}

/// Redis does not answer the monitor: critical, with what the nodes say of it and do meanwhile.
fn unreachable(o: &Observation) -> Violation {
    let r = &o.redis;
    let nodes_without_redis: Vec<&str> = o
        .nodes
        .iter()
        .filter(|n| n.info.as_ref().is_some_and(|i| !i.redis_ok))
        .map(|n| n.addr.as_str())
        .collect();
    let error = r.error.as_deref().unwrap_or("no answer");
    Violation::new(REDIS_HEALTHY, Severity::Critical, format!("Redis at {} is unreachable: {error}", r.url))
        .evidence(json!({
            "url": r.url,
            "error": error,
            "error_kind": r.error_kind,
            "nodes_reporting_redis_down": nodes_without_redis,
            "nodes_in_failure_mode": o.nodes.iter().filter_map(|n| n.info.as_ref()).map(|i| json!({
                "node": i.node_id, "failure_mode": i.failure_mode, "failure_decisions": i.failure_decisions,
            })).collect::<Vec<_>>(),
        }))
}

/// Keys under the prefix without a TTL.
pub(crate) fn no_stuck_keys(o: &Observation, t: &Thresholds) -> Option<Violation> {
    let keys = o.redis.keys.as_ref()?;
    if keys.stuck_total == 0 {
        return None;
    }
    let named: Vec<&str> = keys
        .stuck
        .iter()
        .take(t.sample)
        .map(|k| k.key.as_str())
        .collect();
    let more = keys.stuck_total.saturating_sub(named.len());
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    let n = keys.stuck_total;
    Some(
        Violation::new(
            NO_STUCK_KEYS,
            Severity::Warning,
            format!(
                "{n} key{} under {:?} {} no TTL and will never expire: {}{more}",
                if n == 1 { "" } else { "s" },
                o.key_prefix,
                if n == 1 { "has" } else { "have" },
                named.join(", ")
            ),
        )
        .evidence(json!({
            "stuck_total": n,
            "stuck": keys.stuck,
            "scan": { "scanned_this_observation": keys.scanned, "examined_this_observation": keys.examined, "cursor": keys.cursor, "passes": keys.passes, "dbsize": keys.dbsize },
        })),
    )
}
