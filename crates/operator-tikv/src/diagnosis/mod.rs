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

mod cluster;
mod stores;

use operator_core::ContextSection;
use operator_core::diagnosis::Rule;
use serde_json::{Value, json};

use crate::checker::{
    HIGH_LATENCY, LEADER_IMBALANCE, LOW_DISK_SPACE, PD_UNHEALTHY, PROMETHEUS_UNREACHABLE,
    STORE_DOWN,
};
use crate::observation::TikvObservation;

/// The TiKV subject's diagnosis rules.
pub fn rules() -> Vec<Rule> {
    vec![
        Rule::new(
            "store_disk_full",
            &[STORE_DOWN],
            "the TiKV process stopped because its disk filled up",
            "a store Down or Disconnected with a low_disk_space ticket open for it",
            stores::store_disk_full,
        ),
        Rule::new(
            "store_stopped_heartbeating",
            &[STORE_DOWN],
            "the TiKV store stopped heartbeating to PD: its process, its host or the network to it is down",
            "state Disconnected (no heartbeat for 20 s) or Down (past max-store-down-time)",
            stores::store_stopped,
        ),
        Rule::new(
            "store_being_removed",
            &[STORE_DOWN],
            "the store is being decommissioned (Offline) or was removed (Tombstone)",
            "state Offline or Tombstone",
            stores::store_removed,
        ),
        Rule::new(
            "disk_filling",
            &[LOW_DISK_SPACE],
            "data grows faster than the store's disk",
            "available space below the threshold; the store's region count against its peers'",
            stores::disk_filling,
        ),
        Rule::new(
            "pd_member_down",
            &[PD_UNHEALTHY],
            "a PD member is down or partitioned from the others",
            "a member failing PD's health check",
            |ctx| cluster::pd_problem(ctx, "member_unhealthy"),
        ),
        Rule::new(
            "pd_endpoint_unreachable",
            &[PD_UNHEALTHY],
            "a configured PD endpoint does not answer the operator (member down, wrong URL, or a firewall)",
            "an endpoint_unreachable problem in the evidence",
            |ctx| cluster::pd_problem(ctx, "endpoint_unreachable"),
        ),
        Rule::new(
            "pd_no_leader",
            &[PD_UNHEALTHY],
            "PD has no leader: an election is under way or the quorum is lost",
            "a no_leader problem in the evidence",
            |ctx| cluster::pd_problem(ctx, "no_leader"),
        ),
        Rule::new(
            "hot_store",
            &[HIGH_LATENCY],
            "the store serves a hotspot (a hot region or key range)",
            "the slow store's QPS well above the other stores' average",
            |ctx| stores::latency(ctx, true),
        ),
        Rule::new(
            "slow_store",
            &[HIGH_LATENCY],
            "the store is slow at ordinary load (disk, CPU or compaction)",
            "high p99 with QPS near the other stores'",
            |ctx| stores::latency(ctx, false),
        ),
        Rule::new(
            "leader_weight_skew",
            &[LEADER_IMBALANCE],
            "the store's leader weight differs from the others', so PD aims at another share",
            "a leader weight unlike the other Up stores'",
            |ctx| stores::leaders(ctx, true),
        ),
        Rule::new(
            "leader_scheduling_stalled",
            &[LEADER_IMBALANCE],
            "PD does not move leaders (balance-leader scheduler paused or limited, or the store just rejoined)",
            "equal weights, yet the store stays off its share",
            |ctx| stores::leaders(ctx, false),
        ),
        Rule::new(
            "prometheus_down",
            &[PROMETHEUS_UNREACHABLE],
            "the configured Prometheus is down or unreachable from the operator",
            "Prometheus queries fail",
            cluster::prometheus_down,
        ),
    ]
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
