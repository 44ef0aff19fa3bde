//! Rules about the stores: down, removed, full, slow, off their leader share.

use operator_core::Context;
use operator_core::diagnosis::Finding;
use serde_json::Value;

use crate::checker::{LOW_DISK_SPACE, STORE_DOWN};
use crate::observation::{StoreObservation, StoreState, TikvObservation};

pub(super) fn store_disk_full(ctx: &Context) -> Option<Finding> {
    let id = ctx.ticket.entity.as_deref()?;
    let disk = ctx
        .concurrent_with(LOW_DISK_SPACE)
        .find(|t| t.entity.as_deref() == Some(id))?;
    Some(
        Finding::new(
            0.85,
            format!(
                "Store {id} stopped heartbeating while its disk was nearly full ({}): TiKV \
                 stops when it runs out of space. Free or add disk on that host, then restart \
                 TiKV.",
                disk.message
            ),
        )
        .cite(
            format!("concurrent[#{}].message", disk.id),
            disk.message.clone(),
        )
        .cite("ticket.evidence.state", state(ctx).unwrap_or_default())
        .risk("PD re-creates its replicas elsewhere once it is Down, which fills the others."),
    )
}

pub(super) fn store_stopped(ctx: &Context) -> Option<Finding> {
    let s = state(ctx)?;
    if s != "Disconnected" && s != "Down" {
        return None;
    }
    let address = ctx.ticket.evidence["address"]
        .as_str()
        .unwrap_or("?")
        .to_owned();
    let others: Vec<String> = ctx
        .concurrent_with(STORE_DOWN)
        .filter_map(|t| t.entity.clone())
        .collect();
    let mut f = Finding::new(
        0.8,
        format!(
            "Store {} ({address}) is {s}: it stopped heartbeating to PD. Check the TiKV process \
             and its host, and the network between them and PD.{}",
            ctx.ticket.entity.as_deref().unwrap_or("?"),
            if s == "Down" {
                " PD is already re-creating its replicas on other stores."
            } else {
                " Its Raft leaders are moving to other stores."
            }
        ),
    )
    .cite("ticket.evidence.state", s.clone())
    .cite(
        "ticket.evidence.last_heartbeat",
        ctx.ticket.evidence["last_heartbeat"].to_string(),
    )
    .risk("Restarting a store that was Down for long triggers a large rebalance.");
    if !others.is_empty() {
        f = f
            .cite("concurrent", format!("stores also down: {}", others.join(", ")))
            .risk("Several stores down at once: look for a common cause (network, hosts, a deploy); regions with a majority of replicas on them are unavailable.");
    }
    Some(f)
}

pub(super) fn store_removed(ctx: &Context) -> Option<Finding> {
    let s = state(ctx)?;
    let (confidence, summary) = match s.as_str() {
        "Offline" => (
            0.9,
            "The store is Offline: someone asked PD to remove it (pd-ctl store delete) and its \
             regions are moving away. Expected during a decommission; it becomes Tombstone when \
             empty.",
        ),
        "Tombstone" => (
            0.95,
            "The store was removed and is a Tombstone: clear the record with `pd-ctl store \
             remove-tombstone`.",
        ),
        _ => return None,
    };
    Some(Finding::new(confidence, summary).cite("ticket.evidence.state", s))
}

pub(super) fn disk_filling(ctx: &Context) -> Option<Finding> {
    let id = store_id(ctx)?;
    let ratio = ctx.ticket.evidence.get("available_ratio")?.as_f64()?;
    let mut f = Finding::new(
        0.7,
        format!(
            "Store {id} has {:.1} % of its disk left: data grows faster than its capacity. Add \
             disk or stores; check what grows (GC safe point, large transactions).",
            ratio * 100.0
        ),
    )
    .cite("ticket.evidence.available_ratio", format!("{ratio:.3}"))
    .risk("TiKV stops accepting writes when the disk is full, and may stop altogether.");
    if let Some((i, o)) = latest(ctx) {
        let up: Vec<&StoreObservation> = o
            .stores
            .iter()
            .filter(|s| s.state == StoreState::Up)
            .collect();
        if let Some(store) = o.store(id)
            && up.len() > 1
        {
            #[allow(clippy::cast_precision_loss)] // region counts far below 2^53
            let mean = up.iter().map(|s| s.region_count).sum::<u64>() as f64 / up.len() as f64;
            #[allow(clippy::cast_precision_loss)]
            if store.region_count as f64 > mean * 1.3 {
                f = f
                    .cause("the store holds more regions than its peers: PD's balance leaves it heavier")
                    .cite(
                        format!("observations[{i}].observation.stores"),
                        format!("{} regions against a mean of {mean:.0}", store.region_count),
                    );
            }
        }
    }
    Some(f)
}

pub(super) fn latency(ctx: &Context, hot: bool) -> Option<Finding> {
    let id = store_id(ctx)?;
    let (i, o) = latest(ctx)?;
    let store = o.store(id)?;
    let qps = store.qps?;
    let others: Vec<f64> = o
        .stores
        .iter()
        .filter(|s| s.id != id && s.state == StoreState::Up)
        .filter_map(|s| s.qps)
        .collect();
    if others.is_empty() {
        return None;
    }
    #[allow(clippy::cast_precision_loss)] // a handful of stores
    let mean = others.iter().sum::<f64>() / others.len() as f64;
    let is_hot = qps > mean * 1.5;
    if is_hot != hot {
        return None;
    }
    let cite = (
        format!("observations[{i}].observation.stores"),
        format!("store {id} serves {qps:.0} QPS; the others average {mean:.0}"),
    );
    Some(if hot {
        Finding::new(
            0.65,
            format!(
                "Store {id} is slow because it serves a hotspot: {qps:.0} QPS against {mean:.0} \
                 on average elsewhere. Find the hot region (PD's hot-read/hot-write API) and split \
                 or scatter it."
            ),
        )
        .cite(cite.0, cite.1)
    } else {
        Finding::new(
            0.5,
            format!(
                "Store {id} is slow at ordinary load ({qps:.0} QPS, others {mean:.0}): look at its \
                 disk latency, CPU and compaction backlog."
            ),
        )
        .cite(cite.0, cite.1)
    })
}

pub(super) fn leaders(ctx: &Context, weight: bool) -> Option<Finding> {
    let e = &ctx.ticket.evidence;
    let own = e.get("leader_weight")?.as_f64()?;
    let (_, o) = latest(ctx)?;
    let id = store_id(ctx)?;
    let differs = o
        .stores
        .iter()
        .filter(|s| s.id != id && s.state == StoreState::Up)
        .any(|s| (s.leader_weight - own).abs() > f64::EPSILON);
    if differs != weight {
        return None;
    }
    Some(if weight {
        Finding::new(
            0.7,
            format!(
                "Store {id}'s leader weight ({own}) differs from the others': PD balances leaders \
                 in proportion to weights. Check whether it was set on purpose (pd-ctl store \
                 weight)."
            ),
        )
        .cite("ticket.evidence.leader_weight", own.to_string())
    } else {
        Finding::new(
            0.5,
            format!(
                "Store {id} stays off its leader share with equal weights: PD is not moving \
                 leaders (balance-leader scheduler paused or rate-limited), or the store just \
                 rejoined and is catching up."
            ),
        )
        .cite("ticket.evidence.deviation", e["deviation"].to_string())
    })
}

/// The freshest observation in the context that reads as a TiKV observation, with its index.
fn latest(ctx: &Context) -> Option<(usize, TikvObservation)> {
    ctx.observations
        .iter()
        .enumerate()
        .rev()
        .find_map(|(i, e)| {
            serde_json::from_value(e.observation.clone())
                .ok()
                .map(|o| (i, o))
        })
}

/// The store the ticket is about.
fn store_id(ctx: &Context) -> Option<u64> {
    ctx.ticket.entity.as_deref()?.parse().ok()
}

/// The store's state, as the ticket's evidence recorded it.
fn state(ctx: &Context) -> Option<String> {
    ctx.ticket
        .evidence
        .get("state")
        .and_then(Value::as_str)
        .map(str::to_owned)
}
