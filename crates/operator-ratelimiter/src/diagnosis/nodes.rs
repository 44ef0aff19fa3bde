//! Rules about the nodes: down or frozen, not ready, clock skew, another key prefix, slow
//! decisions, deciding without Redis, counters over their limit.

use operator_core::Context;
use operator_core::diagnosis::{Finding, Recommendation, Rule};
use serde_json::Value;

use super::evidence::{concurrent, error_kind, evidence_str, latest, observations};
use super::wording::capitalize;
use crate::action::RateLimitAction;
use crate::checker::{COUNTER_DRIFT, HIGH_LATENCY, NODE_DOWN, OVER_ADMISSION, REDIS_HEALTHY};
use crate::error::ErrorKind;
use crate::observation::NodeView;

pub(super) fn rules() -> Vec<Rule> {
    vec![
        Rule::new(
            "node_process_down",
            &[NODE_DOWN],
            "the node process is not running, or is frozen",
            "the node unreachable: connection refused (nothing listens: exited, crashed, killed) \
             or timed out (accepts but does not answer: stopped, deadlocked, starved)",
            node_process_down,
        ),
        Rule::new(
            "node_not_ready",
            &[NODE_DOWN],
            "the node runs but is not ready",
            "the node answers and `/readyz` gives a reason other than Redis or the policies",
            node_not_ready,
        ),
        Rule::new(
            "clock_skew",
            &[COUNTER_DRIFT],
            "the node's host clock is off (NTP not running, or the clock set by hand)",
            "`skew_ms` between the node's clock and Redis TIME above the threshold",
            clock_skew,
        ),
        Rule::new(
            "key_prefix_mismatch",
            &[COUNTER_DRIFT],
            "the node runs with another --key-prefix than the others",
            "the node reports a key prefix other than the monitored one",
            key_prefix_mismatch,
        ),
        Rule::new(
            "redis_slow_for_nodes",
            &[HIGH_LATENCY],
            "Redis does not answer the nodes' scripts in time (writes paused, slow commands, \
             saturation), so decisions wait for the node's Redis timeout",
            "the node's Redis timeouts or errors growing between observations, or Redis itself \
             slow (a `redis_healthy` ticket, or the monitor's PING over 20 ms)",
            redis_slow_for_nodes,
        ),
        Rule::new(
            "node_lost_redis",
            &[OVER_ADMISSION],
            "the node cannot use Redis although the monitor can (its network path, its Redis \
             timeout, its credentials)",
            "a node deciding by its failure mode while Redis answers the monitor",
            node_lost_redis,
        ),
        Rule::new(
            "counter_over_limit",
            &[OVER_ADMISSION],
            "counters were written past the nodes' script, or the policy was lowered below the \
             counts of the current window",
            "counters above their window's limit; whether the policy version moved meanwhile",
            counter_over_limit,
        ),
    ]
}

/// The view of the ticket's node in the freshest observation, with its path.
fn node_view(ctx: &Context) -> Option<(String, NodeView)> {
    let addr = ctx.ticket.entity.as_deref()?;
    let (i, o) = latest(ctx)?;
    let (j, n) = o.nodes.iter().enumerate().find(|(_, n)| n.addr == addr)?;
    Some((
        format!("observations[{i}].observation.nodes[{j}]"),
        n.clone(),
    ))
}

fn node_process_down(ctx: &Context) -> Option<Finding> {
    let addr = ctx.ticket.entity.clone()?;
    let (error, kind) = match evidence_str(ctx, "error") {
        Some(error) => (error.to_owned(), error_kind(&ctx.ticket.evidence)),
        None => node_view(ctx)
            .filter(|(_, n)| !n.reachable)
            .and_then(|(_, n)| Some((n.error?, n.error_kind)))?,
    };
    if kind == Some(ErrorKind::Unauthorized) {
        return None; // it runs: `node_token_required`
    }
    let (confidence, cause) = match kind {
        Some(ErrorKind::Refused) => (
            0.85,
            format!(
                "the ratelimiter-node process at {addr} is not running: connections are refused \
                 (it exited, crashed or was killed)"
            ),
        ),
        Some(ErrorKind::TimedOut) => (
            0.8,
            format!(
                "the node at {addr} is frozen: it accepts connections but does not answer \
                 (stopped with SIGSTOP, deadlocked, or starved of CPU)"
            ),
        ),
        Some(ErrorKind::Dns) => (
            0.6,
            format!(
                "the host name of the node at {addr} does not resolve: its host or container is \
                 gone, or the name is wrong"
            ),
        ),
        Some(ErrorKind::Reset | ErrorKind::Unauthorized | ErrorKind::Other) | None => {
            (0.5, format!("the node at {addr} is unreachable: {error}"))
        }
    };
    let mut f = Finding::new(
        confidence,
        format!(
            "{}. No declared action restarts a node: restart it (its supervisor should); the \
             other nodes keep deciding meanwhile.",
            capitalize(&cause)
        ),
    )
    .cause(cause)
    .cite("ticket.evidence.error", error)
    .risk(
        "In failure mode local, each surviving node's share of every limit follows the number \
         of Up nodes: shares are recomputed as heartbeats expire.",
    );
    // When it was last seen alive.
    let last_alive = observations(ctx)
        .into_iter()
        .rev()
        .find_map(|(i, at, _, o)| {
            let (j, n) = o
                .nodes
                .iter()
                .enumerate()
                .find(|(_, n)| n.addr == addr && n.info.is_some())?;
            Some((i, j, at, n.info.clone()?))
        });
    if let Some((i, j, at, info)) = last_alive {
        f = f.cite(
            format!("observations[{i}].observation.nodes[{j}].info"),
            format!(
                "last seen alive at {at} as {} (version {}, up {} s)",
                info.node_id,
                info.version,
                info.uptime_ms / 1000
            ),
        );
    }
    if concurrent(ctx, NODE_DOWN).len() >= 2 {
        f = f
            .risk("Several nodes are down at once: look for a common cause (host, deploy, Redis).");
    }
    Some(f)
}

fn node_not_ready(ctx: &Context) -> Option<Finding> {
    let reason = evidence_str(ctx, "reason")?;
    if ctx.ticket.evidence.get("ready") != Some(&Value::Bool(false))
        || reason.contains("no policies")
        || reason.to_lowercase().contains("redis")
    {
        return None;
    }
    Some(
        Finding::new(
            0.6,
            format!(
                "Node {} runs but is not ready: {reason}.",
                ctx.ticket.entity.as_deref().unwrap_or("?")
            ),
        )
        .cite("ticket.evidence.reason", reason.to_owned()),
    )
}

fn clock_skew(ctx: &Context) -> Option<Finding> {
    let skew = ctx.ticket.evidence.get("skew_ms")?.as_i64()?;
    Some(
        Finding::new(
            0.9,
            format!(
                "Node {}'s clock is {} ms {} Redis TIME: its host's clock is off (NTP not \
                 running or the clock set by hand). Fix time synchronisation on that host.",
                ctx.ticket.entity.as_deref().unwrap_or("?"),
                skew.abs(),
                if skew > 0 { "ahead of" } else { "behind" }
            ),
        )
        .cite("ticket.evidence.skew_ms", skew.to_string())
        .risk(
            "Shared decisions are timed by Redis TIME and stay correct; what the node times by \
             its own clock is off: the windows of its `local` failure mode (when Redis fails, \
             its in-process limits open and close windows early or late), its logs and reports.",
        ),
    )
}

fn key_prefix_mismatch(ctx: &Context) -> Option<Finding> {
    let node = evidence_str(ctx, "node_prefix")?;
    let expected = evidence_str(ctx, "expected_prefix").unwrap_or("?");
    Some(
        Finding::new(
            0.95,
            format!(
                "Node {} uses key prefix {node:?} instead of {expected:?}: its counters and \
                 policies are its own, so its users get a separate limit. Restart it with \
                 --key-prefix {expected:?}.",
                ctx.ticket.entity.as_deref().unwrap_or("?")
            ),
        )
        .cite("ticket.evidence.node_prefix", node.to_owned())
        .cite("ticket.evidence.expected_prefix", expected.to_owned())
        .risk("Until fixed, the cluster admits up to one extra limit per key through this node."),
    )
}

/// A monitor PING this slow says Redis makes its clients wait: one of a healthy Redis nearby
/// takes well under a millisecond.
const SLOW_PING_US: u64 = 20_000;

fn redis_slow_for_nodes(ctx: &Context) -> Option<Finding> {
    let addr = ctx.ticket.entity.as_deref()?;
    let views: Vec<(usize, NodeView)> = observations(ctx)
        .into_iter()
        .filter_map(|(i, _, _, o)| {
            o.nodes
                .into_iter()
                .find(|n| n.addr == addr && n.info.is_some())
                .map(|n| (i, n))
        })
        .collect();
    let grew = views.windows(2).rev().find_map(|w| {
        let (a, b) = (w[0].1.info.as_ref()?, w[1].1.info.as_ref()?);
        let (t, e) = (
            b.redis_timeouts.saturating_sub(a.redis_timeouts),
            b.redis_errors.saturating_sub(a.redis_errors),
        );
        (a.node_id == b.node_id && t + e > 0).then_some((w[1].0, t, e))
    });
    let slow_redis = concurrent(ctx, REDIS_HEALTHY).into_iter().next().cloned();
    // The monitor's own PING: a Redis that makes every command wait (busy scripts, a slow
    // command, saturation) shows there too, even when the nodes' timeouts are long enough.
    let slow_ping = observations(ctx)
        .into_iter()
        .filter_map(|(i, _, _, o)| o.redis.ping_us.map(|us| (i, us)))
        .filter(|(_, us)| *us >= SLOW_PING_US)
        .max_by_key(|(_, us)| *us);
    if grew.is_none() && slow_redis.is_none() && slow_ping.is_none() {
        return None;
    }
    let mut f = Finding::new(
        if grew.is_some() { 0.75 } else { 0.6 },
        format!(
            "Node {addr}'s decisions are slow because Redis does not answer its scripts in time \
             (writes paused, a slow command, or saturation): each decision waits up to the \
             node's Redis timeout, then falls to the failure mode."
        ),
    )
    .risk("Decisions that time out are taken by the failure mode, not shared limits.");
    if let Some((i, t, e)) = grew {
        f = f.cite(
            format!("observations[{i}].observation.nodes[*].info"),
            format!("{t} Redis timeouts and {e} Redis errors since the previous observation"),
        );
    }
    if let Some(r) = slow_redis {
        f = f.cite(format!("concurrent[#{}].message", r.id), r.message);
    }
    if let Some((i, us)) = slow_ping {
        f = f.cite(
            format!("observations[{i}].observation.redis.ping_us"),
            format!(
                "the monitor's PING of Redis took {:.1} ms",
                us as f64 / 1000.0
            ),
        );
    }
    Some(f)
}

fn node_lost_redis(ctx: &Context) -> Option<Finding> {
    let mode = evidence_str(ctx, "failure_mode")?;
    let (i, o) = latest(ctx)?;
    if !o.redis.reachable
        || concurrent(ctx, REDIS_HEALTHY)
            .iter()
            .any(|r| r.message.contains("unreachable"))
    {
        return None;
    }
    Some(
        Finding::new(
            0.6,
            format!(
                "Node {} decides by its failure mode ({mode}) while Redis answers the monitor: \
                 the node itself cannot use Redis (its network path, a Redis timeout too short \
                 for Redis's latency, or its credentials).",
                ctx.ticket.entity.as_deref().unwrap_or("?")
            ),
        )
        .cite(
            "ticket.evidence.since_last",
            ctx.ticket.evidence["since_last"].to_string(),
        )
        .cite(
            format!("observations[{i}].observation.redis.reachable"),
            "true",
        )
        .risk("While it lasts, that node's decisions are not shared with the others."),
    )
}

fn counter_over_limit(ctx: &Context) -> Option<Finding> {
    let policy = evidence_str(ctx, "policy")?.to_owned();
    let counters = ctx.ticket.evidence.get("counters")?.as_array()?;
    let keys: Vec<String> = counters
        .iter()
        .filter_map(|c| c.get("key").and_then(Value::as_str).map(str::to_owned))
        .collect();
    // Did the policy change during the incident (its version moved)?
    let versions: Vec<u64> = observations(ctx)
        .iter()
        .filter_map(|(_, _, _, o)| o.redis.policies.as_ref().and_then(|p| p.version))
        .collect();
    let moved = versions.windows(2).any(|w| w[0] != w[1]);
    let described: Vec<String> = counters
        .iter()
        .map(|c| {
            format!(
                "{} at {} of {}",
                c["key"].as_str().unwrap_or("?"),
                c["count"],
                c["limit"]
            )
        })
        .collect();
    if moved {
        return Some(
            Finding::new(
                0.6,
                format!(
                    "The policies changed during the incident: policy {policy:?} was probably \
                     lowered below counts already admitted in this window ({}). It clears when \
                     the window ends; nothing was admitted past the limit in force.",
                    described.join(", ")
                ),
            )
            .cause(format!(
                "policy {policy:?} lowered below the current window's counts"
            ))
            .cite("ticket.evidence.counters", described.join(", "))
            .cite(
                "observations[*].observation.redis.policies.version",
                format!("{versions:?}"),
            ),
        );
    }
    let mut f = Finding::new(
        0.7,
        format!(
            "Counters of policy {policy:?} hold more than the limit in the current window ({}), \
             which the nodes' script never admits: something else wrote them. Reset them and \
             find the writer.",
            described.join(", ")
        ),
    )
    .cite("ticket.evidence.counters", described.join(", "))
    .risk("Resetting a counter gives its user a fresh window: that user may be admitted again.");
    for key in keys.iter().take(5) {
        f = f.action(Recommendation::typed(
            &RateLimitAction::ResetCounter { key: key.clone() },
            format!("{key} is over its limit from writes the script did not make"),
        ));
    }
    Some(f)
}
