//! The node's background loops: policy polling, heartbeats, and sampling Redis (memory for the
//! memory guard, `TIME` for the clock skew; run beside the heartbeats by [`heartbeat_loop`]).
//! All are off the decision path, all stop when `shutdown` flips, and a failed iteration is
//! logged and never ends a loop.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use ratelimiter_schema::NodeState;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;
use tracing::Instrument;

use crate::node::Node;

/// Refresh the TTL of the policies hash every this many heartbeats (about a minute).
const POLICY_TTL_REFRESH_EVERY: u64 = 60;

/// Polls the policy version every `policy_poll_interval`, reloading or re-seeding as needed.
pub(crate) async fn policy_loop(node: Arc<Node>, shutdown: watch::Receiver<bool>) {
    let span = tracing::info_span!("policy_loop", node = %node.config.node_id);
    poll_policies(node, shutdown).instrument(span).await;
}

async fn poll_policies(node: Arc<Node>, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(node.config.policy_poll_interval);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        if let Err(error) = node.poll_near_resets().await {
            tracing::debug!(%error, "reading the near caches' reset epoch failed; will retry");
        }
        match node.sync_policies().await {
            Ok(_) if failing => {
                failing = false;
                tracing::info!("policy sync works again");
            }
            Ok(_) => {}
            Err(error) if !failing => {
                failing = true;
                tracing::warn!(%error, "policy sync failed; will retry");
            }
            Err(_) => {}
        }
    }
}

/// Heartbeats every `heartbeat_interval`: measures the Redis round trip, registers the node,
/// counts the Up nodes (the `local` failure mode divides limits by it), and now and then
/// refreshes the TTL of the policies. Beside it, every `abuse.sample_interval`, samples Redis
/// memory and clock ([`sample_once`]).
pub(crate) async fn heartbeat_loop(node: Arc<Node>, shutdown: watch::Receiver<bool>) {
    let span = tracing::info_span!("heartbeat_loop", node = %node.config.node_id);
    let beats = heartbeat(node.clone(), shutdown.clone());
    let samples = sample(node, shutdown);
    async move { tokio::join!(beats, samples) }
        .instrument(span)
        .await;
}

async fn sample(node: Arc<Node>, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(node.config.abuse.sample_interval);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        if let Err(error) = sample_once(&node).await {
            tracing::debug!(%error, "sampling redis failed; will retry");
        }
    }
}

/// One sample: every primary's `TIME` (and on a cluster the slot map, in sentinel mode the
/// current primary; see [`crate::store::Store::sample_primaries`]), giving the clock skew (the
/// node's clock at the midpoint of a round trip minus Redis time; on a cluster the largest
/// among the primaries) and, with the memory guard enabled, `INFO memory`, which may turn it on
/// or off.
///
/// # Errors
/// Redis failures or timeouts (when no primary answered).
pub(crate) async fn sample_once(node: &Node) -> Result<(), crate::error::StoreError> {
    let readings = node.store.sample_primaries(|| node.clock_ms()).await;
    let mut first_error = None;
    let mut worst: Option<(i64, Duration)> = None;
    for (_, reading) in readings {
        match reading {
            Ok((t, skew)) => {
                if worst.is_none_or(|(w, _)| skew.abs() > w.abs()) {
                    worst = Some((skew, t.rtt));
                }
            }
            Err(e) => first_error = first_error.or(Some(e)),
        }
    }
    let Some((skew, rtt)) = worst else {
        return Err(first_error.unwrap_or(crate::error::StoreError::Skipped));
    };
    // A slow round trip makes the midpoint a guess: keep the last good reading instead.
    if rtt <= Duration::from_millis(100) || node.metrics.clock_skew().is_none() {
        node.metrics.clock_skew_ms.store(skew, Relaxed);
    }
    if node.memory_guard.enabled() {
        let memory = node.store.memory().await?;
        if let Some(active) = node.memory_guard.update(memory) {
            node.metrics.memory_guard_active.store(active, Relaxed);
            tracing::warn!(
                active,
                used_memory = memory.used,
                maxmemory = memory.max,
                "memory guard {}",
                if active {
                    "on: new keys limited in process"
                } else {
                    "off"
                }
            );
        }
    }
    Ok(())
}

async fn heartbeat(node: Arc<Node>, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(node.config.heartbeat_interval);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut failing = false;
    let mut beats: u64 = 0;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        match heartbeat_once(&node, beats).await {
            Ok(()) => {
                beats += 1;
                if failing {
                    failing = false;
                    node.local.clear();
                    tracing::info!("redis reachable again: shared limiting resumes");
                }
            }
            Err(error) => {
                if !failing {
                    failing = true;
                    tracing::warn!(%error, mode = %node.config.failure_mode, "redis unreachable: deciding by failure mode");
                }
            }
        }
    }
}

async fn heartbeat_once(node: &Node, beats: u64) -> Result<(), crate::error::StoreError> {
    node.store.ping().await?;
    let addr = node.advertise.get().cloned().unwrap_or_default();
    let started = node.started_redis_ms.load(Relaxed);
    let (_, started) = node
        .store
        .heartbeat(
            &node.config.node_id,
            &addr,
            env!("CARGO_PKG_VERSION"),
            started,
        )
        .await?;
    node.started_redis_ms.store(started, Relaxed);
    let nodes = node.store.nodes().await?;
    let up = nodes
        .nodes
        .iter()
        .filter(|n| n.state == NodeState::Up)
        .count();
    node.up_nodes.store(up.max(1), Relaxed);
    if beats.is_multiple_of(POLICY_TTL_REFRESH_EVERY) {
        node.store.refresh_policies_ttl().await?;
    }
    Ok(())
}
