//! The invariants of a Redis Cluster (`--redis-mode cluster`): `cluster_ok`, `replica_live`,
//! `failover_detected`, `shard_balance`, and the per-instance side of `redis_healthy` and
//! `counter_drift` (the primaries' clocks). A replica is expected here: being one is no cause.

use operator_core::{History, Severity, Violation};
use serde_json::json;

use crate::checker::config::COUNTER_DRIFT;
use crate::checker::redis::REDIS_HEALTHY;
use crate::config::Thresholds;
use crate::observation::Observation;
use crate::topology::{ClusterView, InstanceView, Role, ranges_text};

/// `cluster_ok`: the cluster says `ok` and a live primary serves every slot.
pub const CLUSTER_OK: &str = "cluster_ok";
/// `replica_live`: every primary serving slots has a live replica to fail over to.
pub const REPLICA_LIVE: &str = "replica_live";
/// `failover_detected`: no slot range changed primary recently.
pub const FAILOVER_DETECTED: &str = "failover_detected";
/// `shard_balance`: no primary holds a very unequal share of the keys.
pub const SHARD_BALANCE: &str = "shard_balance";

/// The cluster view of this observation, if the subject is a cluster.
fn cluster(o: &Observation) -> Option<&ClusterView> {
    o.redis.cluster.as_ref()
}

/// `cluster_ok`: critical when no instance told the topology, the cluster state is not `ok`, or
/// slots are served by no live primary (naming the ranges and who served them).
pub(crate) fn cluster_ok(o: &Observation) -> Option<Violation> {
    let c = cluster(o)?;
    if let Some(e) = &c.error {
        return Some(
            Violation::new(
                CLUSTER_OK,
                Severity::Critical,
                format!("Redis Cluster at {}: {e}", o.redis.url),
            )
            .evidence(json!({ "url": o.redis.url, "error": e })),
        );
    }
    let state_ok = c.state.as_deref() == Some("ok");
    if state_ok && c.uncovered.is_empty() {
        return None;
    }
    let down: Vec<String> = c
        .primaries()
        .filter(|p| !p.live() && !p.slots.is_empty())
        .map(|p| {
            format!(
                "{} (slots {}, {})",
                p.addr,
                ranges_text(&p.slots),
                down_reason(p)
            )
        })
        .collect();
    let mut parts = vec![format!(
        "cluster_state {} seen from {}",
        c.state.as_deref().unwrap_or("unknown"),
        c.seen_from.as_deref().unwrap_or("?")
    )];
    if !c.uncovered.is_empty() {
        parts.push(format!(
            "slots {} served by no live primary",
            ranges_text(&c.uncovered)
        ));
    }
    if !down.is_empty() {
        parts.push(format!("primary down: {}", down.join("; ")));
    }
    Some(
        Violation::new(CLUSTER_OK, Severity::Critical, format!("Redis Cluster: {}", parts.join("; ")))
            .evidence(json!({
                "state": c.state,
                "seen_from": c.seen_from,
                "slots_assigned": c.slots_assigned,
                "slots_fail": c.slots_fail,
                "uncovered": c.uncovered.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "primaries_down": c.primaries().filter(|p| !p.live() && !p.slots.is_empty()).map(|p| &p.addr).collect::<Vec<_>>(),
            })),
    )
}

fn down_reason(i: &InstanceView) -> String {
    match (&i.error, i.failed) {
        (_, true) => "marked failed by the cluster".into(),
        (Some(e), false) => format!("not answering: {e}"),
        (None, false) => "not answering".into(),
    }
}

/// `replica_live`: a warning per primary serving slots without a live replica: one more failure
/// there loses its slots.
pub(crate) fn replica_live(o: &Observation) -> Vec<Violation> {
    let Some(c) = cluster(o).filter(|c| c.error.is_none()) else {
        return Vec::new();
    };
    c.primaries()
        .filter(|p| p.live() && !p.slots.is_empty())
        .filter(|p| !c.replicas_of(&p.id).any(InstanceView::live))
        .map(|p| {
            let replicas: Vec<String> = c
                .replicas_of(&p.id)
                .map(|r| format!("{} ({})", r.addr, down_reason(r)))
                .collect();
            let detail = if replicas.is_empty() {
                "has no replica".to_owned()
            } else {
                format!("has no live replica: {}", replicas.join(", "))
            };
            Violation::new(
                REPLICA_LIVE,
                Severity::Warning,
                format!(
                    "Redis primary {} (slots {}) {detail}; if it fails, its slots are lost",
                    p.addr,
                    ranges_text(&p.slots)
                ),
            )
            .entity(&p.addr)
            .evidence(
                json!({ "primary": p.addr, "slots": ranges_text(&p.slots), "replicas": replicas }),
            )
        })
        .collect()
}

/// `failover_detected`: a warning per recent failover, naming the old and the new primary.
pub(crate) fn failover_detected(o: &Observation) -> Vec<Violation> {
    let Some(c) = cluster(o) else {
        return Vec::new();
    };
    c.failovers
        .iter()
        .map(|f| {
            let old_state = c
                .instances
                .iter()
                .find(|i| i.addr == f.old_primary)
                .map_or("gone from the cluster".to_owned(), |i| match (i.role, i.live()) {
                    (Role::Replica, true) => "back, as a replica".to_owned(),
                    (_, true) => "back".to_owned(),
                    (_, false) => format!("down ({})", down_reason(i)),
                });
            Violation::new(
                FAILOVER_DETECTED,
                Severity::Warning,
                format!(
                    "Redis failover at {}: slots {} moved from primary {} to its replica {}; the old primary is {old_state}. \
                     Counter increments not yet replicated when it failed are lost",
                    f.at.format("%H:%M:%S"),
                    ranges_text(&f.slots),
                    f.old_primary,
                    f.new_primary
                ),
            )
            .entity(&f.old_primary)
            .evidence(json!({
                "old_primary": f.old_primary,
                "new_primary": f.new_primary,
                "slots": ranges_text(&f.slots),
                "at": f.at,
                "old_primary_state": old_state,
            }))
        })
        .collect()
}

/// `shard_balance`: a primary holding more than `shard_skew` times its fair share of the keys.
pub(crate) fn shard_balance(o: &Observation, t: &Thresholds) -> Vec<Violation> {
    let Some(c) = cluster(o) else {
        return Vec::new();
    };
    let shares: Vec<(&str, u64)> = c
        .primaries()
        .filter(|p| !p.slots.is_empty())
        .filter_map(|p| Some((p.addr.as_str(), p.keys?)))
        .collect();
    let total: u64 = shares.iter().map(|s| s.1).sum();
    if shares.len() < 2 || total < t.shard_min_keys {
        return Vec::new();
    }
    let fair = total as f64 / shares.len() as f64;
    shares
        .iter()
        .filter(|(_, n)| *n as f64 > fair * t.shard_skew)
        .map(|(addr, n)| {
            Violation::new(
                SHARD_BALANCE,
                Severity::Warning,
                format!(
                    "Redis primary {addr} holds {n} of the cluster's {total} keys ({:.0}%, over {:.1} times its fair share): \
                     a hot hash tag or an uneven slot assignment",
                    *n as f64 * 100.0 / total as f64,
                    t.shard_skew
                ),
            )
            .entity(*addr)
            .evidence(json!({ "keys": shares.iter().map(|(a, n)| json!({ "primary": a, "keys": n })).collect::<Vec<_>>(), "total": total }))
        })
        .collect()
}

/// `redis_healthy` per instance (entity: its address): down or not answering (critical for a
/// primary serving slots, warning for a replica), slow twice in a row, evicting, near
/// `maxmemory`, loading.
pub(crate) fn instances_healthy(
    o: &Observation,
    history: &History<Observation>,
    t: &Thresholds,
) -> Vec<Violation> {
    let Some(c) = cluster(o) else {
        return Vec::new();
    };
    let before = history
        .latest()
        .and_then(|e| e.observation.redis.cluster.clone());
    c.instances
        .iter()
        .filter_map(|i| {
            let prev = before
                .as_ref()
                .and_then(|b| b.instances.iter().find(|p| p.addr == i.addr));
            instance_healthy(i, prev, t)
        })
        .collect()
}

fn instance_healthy(
    i: &InstanceView,
    prev: Option<&InstanceView>,
    t: &Thresholds,
) -> Option<Violation> {
    let serving = i.role == Role::Primary && !i.slots.is_empty();
    let mut causes: Vec<(Severity, String)> = Vec::new();
    let down = if serving {
        Severity::Critical
    } else {
        Severity::Warning
    };
    if i.failed {
        causes.push((down, "is marked failed by the cluster".into()));
    } else if i.suspected {
        causes.push((
            Severity::Warning,
            "is suspected down by another instance (fail?)".into(),
        ));
    }
    if !i.reachable {
        causes.push((
            down,
            format!(
                "does not answer the monitor: {}",
                i.error.as_deref().unwrap_or("no answer")
            ),
        ));
    } else if let Some(e) = &i.error {
        causes.push((Severity::Critical, format!("answers PING but {e}")));
    }
    let slow = |us: u64| u128::from(us) > t.slow_ping.as_micros();
    if let Some(us) = i
        .ping_us
        .filter(|us| slow(*us) && prev.and_then(|p| p.ping_us).is_some_and(slow))
    {
        causes.push((
            Severity::Warning,
            format!(
                "PING took {:.1} ms, and too long the time before",
                us as f64 / 1000.0
            ),
        ));
    }
    if let Some(info) = &i.info {
        let same = prev
            .and_then(|p| p.info.as_ref())
            .filter(|p| p.run_id == info.run_id);
        if let Some(n) = same
            .map(|b| info.evicted_keys.saturating_sub(b.evicted_keys))
            .filter(|n| *n > 0)
        {
            causes.push((
                Severity::Critical,
                format!(
                    "evicted {n} keys since the last observation (maxmemory-policy {})",
                    info.maxmemory_policy
                ),
            ));
        }
        if let Some(ratio) = info.memory_ratio().filter(|r| *r >= t.memory_ratio) {
            causes.push((
                Severity::Warning,
                format!("uses {:.0}% of maxmemory", ratio * 100.0),
            ));
        }
        if info.loading {
            causes.push((Severity::Warning, "is still loading its data set".into()));
        }
    }
    let severity = causes.iter().map(|c| c.0).max()?;
    let what = if serving {
        format!("primary (slots {})", ranges_text(&i.slots))
    } else {
        i.role.to_string()
    };
    let text: Vec<&str> = causes.iter().map(|c| c.1.as_str()).collect();
    Some(
        Violation::new(REDIS_HEALTHY, severity, format!("Redis {what} {} {}", i.addr, text.join("; ")))
            .entity(&i.addr)
            .evidence(json!({ "addr": i.addr, "role": i.role, "slots": ranges_text(&i.slots), "failed": i.failed, "error": i.error, "error_kind": i.error_kind, "ping_us": i.ping_us, "causes": text })),
    )
}

/// `counter_drift` per primary: a primary's clock further than `clock_skew` from the median of
/// the primaries' clocks (each shard's windows follow its own primary's `TIME`).
pub(crate) fn primary_clocks(o: &Observation, t: &Thresholds) -> Vec<Violation> {
    let Some(c) = cluster(o) else {
        return Vec::new();
    };
    let clocks: Vec<(&str, i64)> = c
        .primaries()
        .filter(|p| p.live() && !p.slots.is_empty())
        .filter_map(|p| Some((p.addr.as_str(), p.clock_offset_ms?)))
        .collect();
    if clocks.len() < 2 {
        return Vec::new();
    }
    let mut sorted: Vec<i64> = clocks.iter().map(|c| c.1).collect();
    sorted.sort_unstable();
    let median = sorted[sorted.len() / 2];
    let limit = i64::try_from(t.clock_skew.as_millis()).unwrap_or(i64::MAX);
    clocks
        .iter()
        .filter(|(_, off)| (off - median).abs() > limit)
        .map(|(addr, off)| {
            Violation::new(
                COUNTER_DRIFT,
                Severity::Warning,
                format!(
                    "Redis primary {addr}'s clock is {} ms off the other primaries' (over {} ms): windows of its slots start and end at other times",
                    off - median,
                    limit
                ),
            )
            .entity(*addr)
            .evidence(json!({ "primary": addr, "skew_ms": off - median, "offsets_ms": clocks.iter().map(|(a, o)| json!({ "primary": a, "offset_ms": o })).collect::<Vec<_>>() }))
        })
        .collect()
}
