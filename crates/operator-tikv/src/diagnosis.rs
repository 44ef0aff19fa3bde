//! What the TiKV subject knows about its incidents: offline diagnosis rules per invariant, and
//! the extra context it supplies (a table of the stores and PD members from the freshest
//! observation). TiKV declares no actions, so every diagnosis is for a human to act on.
//!
//! | rule | invariant | recognised by |
//! |------|-----------|---------------|
//! | `store_stopped_heartbeating` | `store_down` | Disconnected or Down: the process, host or network of the store |
//! | `store_disk_full` | `store_down` | a store down while its disk was nearly full |
//! | `store_being_removed` | `store_down` | Offline or Tombstone: a decommission in progress or done |
//! | `disk_filling` | `low_disk_space` | available space below the threshold; whether the store holds more regions than its peers |
//! | `pd_member_down` | `pd_unhealthy` | a member failing PD's health check; quorum lost when most do |
//! | `pd_endpoint_unreachable` | `pd_unhealthy` | a configured PD endpoint that does not answer the operator |
//! | `pd_no_leader` | `pd_unhealthy` | members answer but none leads |
//! | `hot_store` | `high_latency` | the slow store serves far more QPS than the others |
//! | `slow_store` | `high_latency` | the slow store serves ordinary QPS (disk, CPU, compaction) |
//! | `leader_weight_skew` | `leader_imbalance` | the store's leader weight differs from the others' |
//! | `leader_scheduling_stalled` | `leader_imbalance` | equal weights, yet leaders do not move |
//! | `prometheus_down` | `prometheus_unreachable` | the configured Prometheus does not answer |

use operator_core::diagnosis::{Finding, Rule};
use operator_core::{Context, ContextSection};
use serde_json::{Value, json};

use crate::checker::{
    HIGH_LATENCY, LEADER_IMBALANCE, LOW_DISK_SPACE, PD_UNHEALTHY, PROMETHEUS_UNREACHABLE,
    STORE_DOWN,
};
use crate::observation::{StoreObservation, StoreState, TikvObservation};

/// The TiKV subject's diagnosis rules.
pub fn rules() -> Vec<Rule> {
    vec![
        Rule::new(
            "store_disk_full",
            &[STORE_DOWN],
            "the TiKV process stopped because its disk filled up",
            "a store Down or Disconnected with a low_disk_space ticket open for it",
            store_disk_full,
        ),
        Rule::new(
            "store_stopped_heartbeating",
            &[STORE_DOWN],
            "the TiKV store stopped heartbeating to PD: its process, its host or the network to it is down",
            "state Disconnected (no heartbeat for 20 s) or Down (past max-store-down-time)",
            store_stopped,
        ),
        Rule::new(
            "store_being_removed",
            &[STORE_DOWN],
            "the store is being decommissioned (Offline) or was removed (Tombstone)",
            "state Offline or Tombstone",
            store_removed,
        ),
        Rule::new(
            "disk_filling",
            &[LOW_DISK_SPACE],
            "data grows faster than the store's disk",
            "available space below the threshold; the store's region count against its peers'",
            disk_filling,
        ),
        Rule::new(
            "pd_member_down",
            &[PD_UNHEALTHY],
            "a PD member is down or partitioned from the others",
            "a member failing PD's health check",
            |ctx| pd_problem(ctx, "member_unhealthy"),
        ),
        Rule::new(
            "pd_endpoint_unreachable",
            &[PD_UNHEALTHY],
            "a configured PD endpoint does not answer the operator (member down, wrong URL, or a firewall)",
            "an endpoint_unreachable problem in the evidence",
            |ctx| pd_problem(ctx, "endpoint_unreachable"),
        ),
        Rule::new(
            "pd_no_leader",
            &[PD_UNHEALTHY],
            "PD has no leader: an election is under way or the quorum is lost",
            "a no_leader problem in the evidence",
            |ctx| pd_problem(ctx, "no_leader"),
        ),
        Rule::new(
            "hot_store",
            &[HIGH_LATENCY],
            "the store serves a hotspot (a hot region or key range)",
            "the slow store's QPS well above the other stores' average",
            |ctx| latency(ctx, true),
        ),
        Rule::new(
            "slow_store",
            &[HIGH_LATENCY],
            "the store is slow at ordinary load (disk, CPU or compaction)",
            "high p99 with QPS near the other stores'",
            |ctx| latency(ctx, false),
        ),
        Rule::new(
            "leader_weight_skew",
            &[LEADER_IMBALANCE],
            "the store's leader weight differs from the others', so PD aims at another share",
            "a leader weight unlike the other Up stores'",
            |ctx| leaders(ctx, true),
        ),
        Rule::new(
            "leader_scheduling_stalled",
            &[LEADER_IMBALANCE],
            "PD does not move leaders (balance-leader scheduler paused or limited, or the store just rejoined)",
            "equal weights, yet the store stays off its share",
            |ctx| leaders(ctx, false),
        ),
        Rule::new(
            "prometheus_down",
            &[PROMETHEUS_UNREACHABLE],
            "the configured Prometheus is down or unreachable from the operator",
            "Prometheus queries fail",
            prometheus_down,
        ),
    ]
}

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

fn store_id(ctx: &Context) -> Option<u64> {
    ctx.ticket.entity.as_deref()?.parse().ok()
}

fn state(ctx: &Context) -> Option<String> {
    ctx.ticket
        .evidence
        .get("state")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

fn store_disk_full(ctx: &Context) -> Option<Finding> {
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

fn store_stopped(ctx: &Context) -> Option<Finding> {
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

fn store_removed(ctx: &Context) -> Option<Finding> {
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

fn disk_filling(ctx: &Context) -> Option<Finding> {
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

fn pd_problem(ctx: &Context, kind: &str) -> Option<Finding> {
    let problems = ctx.ticket.evidence.get("problems")?.as_array()?;
    let p = problems
        .iter()
        .find(|p| p.get("problem").and_then(Value::as_str) == Some(kind))?;
    let (confidence, summary) = match kind {
        "member_unhealthy" => {
            let healthy = p["healthy_members"].as_u64().unwrap_or(0);
            let total = p["members"].as_u64().unwrap_or(0);
            let quorum = healthy * 2 <= total;
            (
                if quorum { 0.85 } else { 0.75 },
                format!(
                    "PD member {} fails PD's health check: its process is down or it is cut off \
                     from the others ({healthy} of {total} healthy{}).",
                    p["member"].as_str().unwrap_or("?"),
                    if quorum {
                        "; the quorum is lost: PD cannot elect a leader or serve timestamps"
                    } else {
                        ""
                    }
                ),
            )
        }
        "endpoint_unreachable" => (
            0.7,
            format!(
                "PD endpoint {} does not answer the operator ({}): the member is down, the URL \
                 is wrong, or a firewall is in the way.",
                p["endpoint"].as_str().unwrap_or("?"),
                p["error"].as_str().unwrap_or("?")
            ),
        ),
        _ => (
            0.8,
            "PD has no leader: an election is under way or the quorum is lost; the cluster \
             cannot allocate timestamps meanwhile."
                .to_owned(),
        ),
    };
    Some(
        Finding::new(confidence, summary)
            .cite("ticket.evidence.problems", p.to_string())
            .risk("Without a PD leader no transaction can start."),
    )
}

fn latency(ctx: &Context, hot: bool) -> Option<Finding> {
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

fn leaders(ctx: &Context, weight: bool) -> Option<Finding> {
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

fn prometheus_down(ctx: &Context) -> Option<Finding> {
    let metrics = ctx.ticket.evidence.get("metrics")?;
    let error = metrics.get("error").and_then(Value::as_str)?;
    Some(
        Finding::new(
            0.8,
            format!(
                "Prometheus does not answer the operator ({error}): it is down, or the URL or \
                 network path is wrong. Store latency cannot be judged meanwhile."
            ),
        )
        .cite("ticket.evidence.metrics.error", error.to_owned())
        .risk("high_latency alerts are frozen at their last known state while Prometheus is down."),
    )
}

/// The stores and PD members at a glance, from the freshest observation.
pub(crate) fn context_sections(latest: Option<&TikvObservation>) -> Vec<ContextSection> {
    let Some(o) = latest else {
        return Vec::new();
    };
    let stores: Vec<Value> = o
        .stores
        .iter()
        .map(|s| {
            json!({
                "id": s.id, "address": s.address, "state": s.state, "leaders": s.leader_count,
                "leader_weight": s.leader_weight, "regions": s.region_count,
                "available_pct": s.available_ratio().map(|r| (r * 1000.0).round() / 10.0),
                "qps": s.qps, "grpc_p99_ms": s.grpc_p99_seconds.map(|p| p * 1000.0),
                "last_heartbeat": s.last_heartbeat,
            })
        })
        .collect();
    let members: Vec<Value> =
        o.pd.members
            .iter()
            .map(|m| json!({"name": m.name, "leader": m.is_leader, "healthy": m.healthy}))
            .collect();
    vec![
        ContextSection::new(
            "stores",
            "every store as PD and Prometheus see it now",
            json!(stores),
        ),
        ContextSection::new(
            "pd_members",
            "PD members, the leader and their health",
            json!({ "members": members, "region_count": o.pd.region_count }),
        ),
    ]
}
