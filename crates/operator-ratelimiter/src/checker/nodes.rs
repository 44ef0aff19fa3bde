//! `node_down`, `high_latency` and `over_admission`: what each node is doing (the limiter modes
//! `over_admission` names are read in `modes`).

use std::collections::{BTreeMap, BTreeSet};

use operator_core::{History, Severity, Violation};
use ratelimiter_schema::NodeState;
use serde_json::json;

use super::history::{known_node_ids, last_view, previous_node};
use super::modes;
use crate::config::Thresholds;
use crate::error::ErrorKind;
use crate::histogram::Histogram;
use crate::observation::{NodeView, Observation};

/// `node_down`: every node answers and is ready.
pub const NODE_DOWN: &str = "node_down";
/// `high_latency`: a node's decisions are slow.
pub const HIGH_LATENCY: &str = "high_latency";
/// `over_admission`: no key is admitted past its limit.
pub const OVER_ADMISSION: &str = "over_admission";

/// The node says it is not ready because of Redis, while Redis is down for the monitor too:
/// a symptom of `redis_healthy`, not a node fault.
pub(crate) fn not_ready_because_redis_is_down(o: &Observation, n: &NodeView) -> bool {
    !o.redis.reachable
        && n.ready == Some(false)
        && n.ready_reason
            .as_deref()
            .is_some_and(|r| r.to_lowercase().contains("redis"))
}

/// The node answers, but says it is not ready for a reason of its own (not Redis being down).
fn not_ready_of_its_own(o: &Observation, n: &NodeView) -> bool {
    n.reachable && n.ready == Some(false) && !not_ready_because_redis_is_down(o, n)
}

/// A node that answers "not ready" is down only when the observation before said it was down
/// too (unreachable, or not ready of its own): one slow readiness probe of Redis under load
/// must not open a ticket, while a node that stays not ready fires on the second tick. With no
/// earlier view of the node (`--once`, the agent's check, the first tick) there is nothing to
/// wait for, and it fires at once. An unreachable node fires at once in every case.
pub(crate) fn not_ready_confirmed(n: &NodeView, history: &History<Observation>) -> bool {
    last_view(history, &n.addr)
        .is_none_or(|(before, was)| !was.reachable || not_ready_of_its_own(before, was))
}

/// Not ready of its own for the first time: neither down nor clear yet (the monitor leaves its
/// alert as it is).
pub(crate) fn not_ready_unconfirmed(
    o: &Observation,
    n: &NodeView,
    history: &History<Observation>,
) -> bool {
    not_ready_of_its_own(o, n)
        && n.error_kind != Some(ErrorKind::Unauthorized)
        && !not_ready_confirmed(n, history)
}

pub(crate) fn node_down(o: &Observation, history: &History<Observation>) -> Vec<Violation> {
    let mut out = Vec::new();
    for n in &o.nodes {
        let evidence = json!({ "url": n.url, "node": n.id(), "error": n.error, "error_kind": n.error_kind, "ready": n.ready, "reason": n.ready_reason });
        if !n.reachable {
            let error = n.error.as_deref().unwrap_or("no answer");
            out.push(
                Violation::new(
                    NODE_DOWN,
                    Severity::Critical,
                    format!("node {} is unreachable: {error}", n.label()),
                )
                .entity(&n.addr)
                .evidence(evidence),
            );
        } else if n.error_kind == Some(ErrorKind::Unauthorized) {
            // It answers, but the monitor cannot read its state: every node alert is blind.
            let error = n.error.as_deref().unwrap_or("unauthorized");
            out.push(
                Violation::new(
                    NODE_DOWN,
                    Severity::Warning,
                    format!("node {} refuses the monitor: {error}", n.label()),
                )
                .entity(&n.addr)
                .evidence(evidence),
            );
        } else if not_ready_of_its_own(o, n) && not_ready_confirmed(n, history) {
            let reason = n.ready_reason.as_deref().unwrap_or("no reason given");
            out.push(
                Violation::new(
                    NODE_DOWN,
                    Severity::Critical,
                    format!("node {} is not ready: {reason}", n.label()),
                )
                .entity(&n.addr)
                .evidence(evidence),
            );
        }
    }
    // Nodes Redis knows from heartbeats but the monitor was not told about.
    let known = known_node_ids(o, history);
    let configured: BTreeSet<&str> = o.nodes.iter().map(|n| n.addr.as_str()).collect();
    for e in o.redis.registry.iter().flatten() {
        if e.state == NodeState::Down
            && !known.contains(e.id.as_str())
            && !configured.contains(e.addr.as_str())
        {
            out.push(
                Violation::new(
                    NODE_DOWN,
                    Severity::Warning,
                    format!(
                        "node {} ({}), registered in Redis, has sent no heartbeat for {:.1} s",
                        e.id,
                        e.addr,
                        e.last_heartbeat_age_ms as f64 / 1000.0
                    ),
                )
                .entity(&e.id)
                .evidence(json!({ "registry": e })),
            );
        }
    }
    out
}

/// Decisions of `n` since its previous observation, when both readings are comparable.
pub(crate) fn latency_window(n: &NodeView, history: &History<Observation>) -> Option<Histogram> {
    let now = n.latency.as_ref()?;
    let before = previous_node(history, &n.addr)?.latency.as_ref()?;
    now.since(before)
}

pub(crate) fn high_latency(
    o: &Observation,
    history: &History<Observation>,
    t: &Thresholds,
) -> Vec<Violation> {
    let mut out = Vec::new();
    for n in &o.nodes {
        let Some(window) = latency_window(n, history) else {
            continue;
        };
        let Some(p99) = window.quantile(0.99) else {
            continue;
        };
        if p99 * 1000.0 > t.p99.as_secs_f64() * 1000.0 {
            let p50 = window.quantile(0.5).unwrap_or_default();
            out.push(
                Violation::new(
                    HIGH_LATENCY,
                    Severity::Warning,
                    format!(
                        "node {} decision p99 is {:.1} ms (threshold {} ms) over {} decisions since the last observation",
                        n.label(),
                        p99 * 1000.0,
                        t.p99.as_millis(),
                        window.count()
                    ),
                )
                .entity(&n.addr)
                .evidence(json!({ "p99_ms": p99 * 1000.0, "p50_ms": p50 * 1000.0, "decisions": window.count(), "window": window })),
            );
        }
    }
    out
}

/// Counters over their limit (one violation per policy, naming the nodes in a teaching limiter
/// mode), then nodes deciding by their failure mode, or else in a limiter mode that is not exact.
pub(crate) fn over_admission(
    o: &Observation,
    history: &History<Observation>,
    t: &Thresholds,
) -> Vec<Violation> {
    let mut out = over_limit_counters(o, t);
    out.extend(
        o.nodes.iter().filter_map(|n| {
            deciding_without_redis(n, history, t).or_else(|| in_inexact_mode(o, n))
        }),
    );
    out
}

/// Node `n` decides in a teaching limiter mode (`naive`, `memory`): not exact, whatever the load.
fn in_inexact_mode(o: &Observation, n: &NodeView) -> Option<Violation> {
    let in_memory = modes::inexact_nodes(o)
        .iter()
        .filter(|(_, m)| *m == ratelimiter_schema::LimiterMode::Memory)
        .count();
    let (message, evidence) = modes::inexact_mode(n, in_memory)?;
    Some(
        Violation::new(OVER_ADMISSION, Severity::Warning, message)
            .entity(&n.addr)
            .evidence(evidence),
    )
}

/// One violation per policy whose counters hold more than its limit in the current window.
fn over_limit_counters(o: &Observation, t: &Thresholds) -> Vec<Violation> {
    let Some(keys) = &o.redis.keys else {
        return Vec::new();
    };
    let mut by_policy: BTreeMap<&str, Vec<_>> = BTreeMap::new();
    for a in &keys.over_admitted {
        by_policy.entry(a.policy.as_str()).or_default().push(a);
    }
    by_policy
        .into_iter()
        .map(|(policy, over)| {
            let named: Vec<String> = over
                .iter()
                .take(t.sample)
                .map(|a| {
                    format!(
                        "{} ({} per {} ms)",
                        a.key,
                        modes::admitted_of_limit(a.count, a.limit),
                        a.window_ms
                    )
                })
                .collect();
            let mut evidence = json!({ "policy": policy, "counters": over });
            let (nodes, modes) = match modes::naming(o) {
                Some((text, modes)) => (text, modes),
                None => (String::new(), serde_json::Value::Null),
            };
            if !modes.is_null() {
                evidence["limiter_modes"] = modes;
            }
            Violation::new(
                OVER_ADMISSION,
                Severity::Critical,
                format!(
                    "{} key{} admitted past the limit of policy {policy:?} in the current window: {}{nodes}",
                    over.len(),
                    if over.len() == 1 { "" } else { "s" },
                    named.join(", ")
                ),
            )
            .entity(format!("policy:{policy}"))
            .evidence(evidence)
        })
        .collect()
}

/// Node `n` took at least `failure_ratio` of its decisions since the last observation by its
/// failure mode.
fn deciding_without_redis(
    n: &NodeView,
    history: &History<Observation>,
    t: &Thresholds,
) -> Option<Violation> {
    let now = n.info.as_ref()?;
    let before = previous_node(history, &n.addr).and_then(|p| p.info.as_ref())?;
    if now.uptime_ms < before.uptime_ms || now.node_id != before.node_id {
        return None; // restarted: its counters started over
    }
    let (f, b) = (now.failure_decisions, before.failure_decisions);
    let (open, local, closed) = (
        f.open.saturating_sub(b.open),
        f.local.saturating_sub(b.local),
        f.closed.saturating_sub(b.closed),
    );
    let decisions = now.decisions.saturating_sub(before.decisions).max(1);
    #[allow(clippy::cast_precision_loss)] // decision counts far below 2^52
    let share = (open + local + closed) as f64 / decisions as f64;
    if share < t.failure_ratio {
        return None;
    }
    let (severity, what) = if open > 0 {
        (
            Severity::Critical,
            format!("admitted {open} requests without any limit (failure mode open)"),
        )
    } else if local > 0 {
        (
            Severity::Warning,
            format!(
                "decided {local} requests in process at its share of each limit (failure mode local)"
            ),
        )
    } else if closed > 0 {
        (
            Severity::Warning,
            format!("refused {closed} requests outright (failure mode closed)"),
        )
    } else {
        return None;
    };
    Some(
        Violation::new(
            OVER_ADMISSION,
            severity,
            format!("node {} {what} since the last observation: shared limiting is lost while Redis is unusable", n.label()),
        )
        .entity(&n.addr)
        .evidence(json!({
            "node": now.node_id, "failure_mode": now.failure_mode,
            "since_last": { "open": open, "local": local, "closed": closed, "decisions": decisions },
            "failure_share": share,
            "total": f, "redis_ok": now.redis_ok,
        })),
    )
}
