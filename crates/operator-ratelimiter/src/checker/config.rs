//! `config_loaded` and `counter_drift`: do the nodes serve the policies Redis holds, and do they
//! share one state?

use std::collections::BTreeMap;

use operator_core::{History, Severity, Violation};
use serde_json::json;

use super::history::{held_for, previous_redis};
use crate::config::Thresholds;
use crate::observation::{NodeView, Observation, SkewSource};

/// `config_loaded`: Redis holds a valid policy set and every node serves it.
pub const CONFIG_LOADED: &str = "config_loaded";
/// `counter_drift`: the nodes share one state (policies, key prefix, clock).
pub const COUNTER_DRIFT: &str = "counter_drift";

/// `(version, digest)` of the node at `addr` when it differs from Redis's digest.
fn stale(o: &Observation, addr: &str) -> bool {
    let redis_digest = o.redis.policies.as_ref().and_then(|p| p.digest.as_deref());
    let node_digest = o
        .node(addr)
        .and_then(|n| n.info.as_ref())
        .map(|i| i.policy_digest.as_str());
    matches!((redis_digest, node_digest), (Some(r), Some(n)) if r != n)
}

/// The policies in Redis (missing, invalid, lost by a restart), then each node's.
pub(crate) fn config_loaded(
    o: &Observation,
    history: &History<Observation>,
    t: &Thresholds,
) -> Vec<Violation> {
    let mut out: Vec<Violation> = redis_policies(o, history).into_iter().collect();
    out.extend(
        o.nodes
            .iter()
            .filter_map(|n| node_policies(o, history, t, n)),
    );
    out
}

/// The policies hash in Redis: missing, invalid, or lost by a restart.
fn redis_policies(o: &Observation, history: &History<Observation>) -> Option<Violation> {
    let p = o.redis.policies.as_ref()?;
    let key = ratelimiter_schema::keys::policies_key(&o.key_prefix);
    if !p.present {
        let node_versions: BTreeMap<&str, serde_json::Value> = o
            .nodes
            .iter()
            .filter_map(|n| {
                n.info.as_ref().map(|i| {
                    (
                        n.addr.as_str(),
                        json!({"version": i.policy_version, "digest": i.policy_digest}),
                    )
                })
            })
            .collect();
        return Some(
            Violation::new(
                CONFIG_LOADED,
                Severity::Critical,
                format!(
                    "no policies in Redis ({key:?} is missing): nodes keep enforcing what they cached, a node \
                     that restarts re-seeds from its own file"
                ),
            )
            .evidence(json!({ "key": key, "nodes": node_versions })),
        );
    }
    if !p.invalid.is_empty() || p.version.is_none() {
        let mut problems: Vec<String> = p
            .invalid
            .iter()
            .map(|f| format!("{}: {}", f.field, f.error))
            .collect();
        if p.version.is_none() {
            problems.push("no version field".into());
        }
        return Some(
            Violation::new(
                CONFIG_LOADED,
                Severity::Critical,
                format!("policies in Redis are invalid: {}", problems.join("; ")),
            )
            .evidence(json!({ "key": key, "invalid": p.invalid, "version": p.version })),
        );
    }
    lost_by_restart(o, history)
}

/// Node `n` with no policies, or serving other policies than Redis holds for longer than the
/// propagation time.
fn node_policies(
    o: &Observation,
    history: &History<Observation>,
    t: &Thresholds,
    n: &NodeView,
) -> Option<Violation> {
    let info = n.info.as_ref()?;
    if info.policies_loaded == 0 {
        return Some(
            Violation::new(
                CONFIG_LOADED,
                Severity::Critical,
                format!("node {} has no policies loaded", n.label()),
            )
            .entity(&n.addr)
            .evidence(json!({ "node": info.node_id, "policy_version": info.policy_version })),
        );
    }
    let stale_for = held_for(o, history, |obs| stale(obs, &n.addr));
    if stale_for < t.policy_propagation {
        return None;
    }
    let p = o.redis.policies.as_ref();
    Some(
        Violation::new(
            CONFIG_LOADED,
            Severity::Warning,
            format!(
                "node {} serves policy version {} (digest {}) but Redis holds version {} (digest {}), for {:.1} s",
                n.label(),
                info.policy_version,
                info.policy_digest,
                p.and_then(|p| p.version).map_or_else(|| "?".into(), |v| v.to_string()),
                p.and_then(|p| p.digest.clone()).unwrap_or_default(),
                stale_for.as_secs_f64()
            ),
        )
        .entity(&n.addr)
        .evidence(json!({
            "node": info.node_id,
            "node_version": info.policy_version,
            "node_digest": info.policy_digest,
            "redis_version": p.and_then(|p| p.version),
            "redis_digest": p.and_then(|p| p.digest.clone()),
            "stale_ms": stale_for.as_millis(),
        })),
    )
}

/// A version this much above the last one seen is not a series of changes (each adds 1) but a
/// re-seed, which restarts the version at Redis time in milliseconds.
const RESEED_JUMP: u64 = 1_000;

/// What happened to the policies since Redis was last seen: it restarted empty (every counter lost,
/// policies re-seeded by the nodes; with an append-only file, only the re-seeded version tells),
/// or the policies vanished and were re-seeded while it ran, or a restart brought back other
/// policies. Each shows for one observation, then keeps firing for the
/// invariant's keep-firing period: the nodes heal it by themselves, the ticket records that it
/// happened.
fn lost_by_restart(o: &Observation, history: &History<Observation>) -> Option<Violation> {
    let prev = previous_redis(history)?;
    let (info, prev_info) = (o.redis.info.as_ref()?, prev.redis.info.as_ref()?);
    let (now, before) = (o.redis.policies.as_ref()?, prev.redis.policies.as_ref()?);
    let (v_now, v_before) = (now.version.unwrap_or(0), before.version.unwrap_or(0));
    let same_policies = now.digest == before.digest;
    let policies = if same_policies {
        format!("the nodes re-seeded the same policies from memory (version {v_before} -> {v_now})")
    } else {
        format!(
            "the policies now in Redis differ (digest {} -> {}, version {v_before} -> {v_now}): re-seeded from a \
             seed file, so changes made through the API are lost",
            before.digest.as_deref().unwrap_or("?"),
            now.digest.as_deref().unwrap_or("?")
        )
    };
    let message = if info.run_id != prev_info.run_id && info.started_empty() {
        format!(
            "Redis restarted empty {} s ago (nothing loaded from disk): every counter was lost, so limits started \
             afresh, and {policies}",
            info.uptime_s
        )
    } else if info.run_id != prev_info.run_id && !same_policies {
        format!("Redis restarted {} s ago and {policies}", info.uptime_s)
    } else if info.run_id != prev_info.run_id && v_now > v_before.saturating_add(RESEED_JUMP) {
        // With an append-only file, INFO does not say how many keys were loaded; a re-seeded
        // version says the policies (and so the data) did not come back.
        format!(
            "Redis restarted empty {} s ago (it has an append-only file, but the file was lost or empty: \
             the policies had to be re-seeded): every counter was lost, so limits started afresh, and {policies}",
            info.uptime_s
        )
    } else if info.run_id == prev_info.run_id && v_now > v_before.saturating_add(RESEED_JUMP) {
        format!(
            "the policies vanished from Redis while it kept running (deleted, or flushed) and {policies}; \
             find what removed them"
        )
    } else {
        return None;
    };
    Some(
        Violation::new(CONFIG_LOADED, Severity::Warning, message).evidence(json!({
            "run_id_before": prev_info.run_id, "run_id_now": info.run_id, "uptime_s": info.uptime_s,
            "keys_loaded_at_start": info.keys_loaded_at_start, "aof_enabled": info.aof_enabled,
            "version_before": before.version, "version_now": now.version,
            "digest_before": before.digest, "digest_now": now.digest,
        })),
    )
}

/// Distinct `(version, digest)` pairs served by the nodes that answered, with who serves each.
fn policy_groups(o: &Observation) -> BTreeMap<(u64, String), Vec<String>> {
    let mut groups: BTreeMap<(u64, String), Vec<String>> = BTreeMap::new();
    for n in &o.nodes {
        if let Some(i) = &n.info {
            groups
                .entry((i.policy_version, i.policy_digest.clone()))
                .or_default()
                .push(n.label());
        }
    }
    groups
}

pub(crate) fn counter_drift(
    o: &Observation,
    history: &History<Observation>,
    t: &Thresholds,
) -> Vec<Violation> {
    let mut out = Vec::new();
    let groups = policy_groups(o);
    let split_for = held_for(o, history, |obs| policy_groups(obs).len() > 1);
    if groups.len() > 1 && split_for >= t.policy_propagation {
        let described: Vec<String> = groups
            .iter()
            .map(|((v, d), nodes)| format!("{} at version {v} ({d})", nodes.join(", ")))
            .collect();
        out.push(
            Violation::new(
                COUNTER_DRIFT,
                Severity::Warning,
                format!("nodes disagree on the policies for {:.1} s: {}", split_for.as_secs_f64(), described.join("; ")),
            )
            .evidence(json!({
                "groups": groups.iter().map(|((v, d), n)| json!({"version": v, "digest": d, "nodes": n})).collect::<Vec<_>>(),
            })),
        );
    }
    for n in &o.nodes {
        let Some(info) = &n.info else { continue };
        if info.key_prefix != o.key_prefix {
            out.push(
                Violation::new(
                    COUNTER_DRIFT,
                    Severity::Critical,
                    format!(
                        "node {} uses key prefix {:?}, not {:?}: its counters and policies are its own, so limits \
                         are not shared with the other nodes",
                        n.label(),
                        info.key_prefix,
                        o.key_prefix
                    ),
                )
                .entity(&n.addr)
                .evidence(json!({ "node": info.node_id, "node_prefix": info.key_prefix, "expected_prefix": o.key_prefix })),
            );
            continue;
        }
        if let Some(skew) = n
            .clock_skew_ms
            .filter(|s| u128::from(s.unsigned_abs()) > t.clock_skew.as_millis())
        {
            out.push(
                Violation::new(
                    COUNTER_DRIFT,
                    Severity::Warning,
                    format!(
                        "node {} clock is {} ms {} Redis TIME (threshold {} ms{})",
                        n.label(),
                        skew.abs(),
                        if skew > 0 { "ahead of" } else { "behind" },
                        t.clock_skew.as_millis(),
                        match n.clock_skew_source {
                            Some(SkewSource::Node) => ", measured by the node",
                            _ => "",
                        }
                    ),
                )
                .entity(&n.addr)
                .evidence(json!({
                    "node": info.node_id, "skew_ms": skew, "skew_source": n.clock_skew_source,
                    "node_now_ms": info.now_ms, "redis_time_ms": o.redis.time_ms,
                })),
            );
        }
    }
    out
}
