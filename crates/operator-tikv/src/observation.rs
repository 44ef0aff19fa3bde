//! What one observation of a TiKV cluster holds: the stores as PD reports them, the PD members and
//! their health, and per-store QPS and gRPC p99 latency from Prometheus.
//!
//! Every optional source says how fresh its data is ([`Freshness`]): when PD's membership API or
//! Prometheus fails, the last data they gave is kept and marked stale rather than dropped, so
//! that nothing is concluded "healthy" from data that could not be read.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::EndpointFailure;

/// One observation of the cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TikvObservation {
    /// PD: which endpoint answered, its members and their health.
    pub pd: PdObservation,
    /// Every store PD knows, tombstones included, ordered by id.
    pub stores: Vec<StoreObservation>,
    /// Where the per-store metrics come from.
    pub metrics: MetricsObservation,
}

impl TikvObservation {
    /// The store with this id.
    pub fn store(&self, id: u64) -> Option<&StoreObservation> {
        self.stores.iter().find(|s| s.id == id)
    }
}

/// PD as seen by one observation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PdObservation {
    /// The endpoint that answered.
    pub endpoint: String,
    /// Configured endpoints tried before it that did not answer.
    pub unreachable: Vec<EndpointFailure>,
    /// Name of the PD leader, when known.
    pub leader: Option<String>,
    /// The PD members and their health.
    pub members: Vec<PdMember>,
    /// Freshness of `leader` and `members` (PD's `/members` and `/health` APIs).
    pub members_source: Freshness,
    /// Number of regions in the cluster (PD's `/stats/region`), when it answered.
    pub region_count: Option<u64>,
}

/// One PD member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PdMember {
    /// Member name (e.g. `pd1`).
    pub name: String,
    /// Etcd member id.
    pub member_id: u64,
    /// Its client URLs.
    pub client_urls: Vec<String>,
    /// Whether it is the PD leader.
    pub is_leader: bool,
    /// Whether it answered PD's health check; `None` when PD's health API did not list it.
    pub healthy: Option<bool>,
}

/// One TiKV store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoreObservation {
    /// Store id.
    pub id: u64,
    /// Service address (gRPC, port 20160 by default).
    pub address: String,
    /// Status address (HTTP, port 20180 by default): what Prometheus scrapes, so what its
    /// `instance` label holds.
    pub status_address: String,
    /// TiKV version.
    pub version: String,
    /// State as PD names it.
    pub state: StoreState,
    /// Disk capacity in bytes (0 when unknown).
    pub capacity_bytes: u64,
    /// Available disk space in bytes.
    pub available_bytes: u64,
    /// Raft leaders it holds.
    pub leader_count: u64,
    /// Its leader weight (PD balances leaders in proportion to it).
    pub leader_weight: f64,
    /// Region replicas (peers) it holds.
    pub region_count: u64,
    /// Its last heartbeat to PD.
    pub last_heartbeat: Option<DateTime<Utc>>,
    /// gRPC requests per second, from Prometheus.
    pub qps: Option<f64>,
    /// 99th percentile of gRPC message duration in seconds, from Prometheus.
    pub grpc_p99_seconds: Option<f64>,
}

impl StoreObservation {
    /// Available space as a fraction of capacity, when the capacity is known.
    pub fn available_ratio(&self) -> Option<f64> {
        if self.capacity_bytes == 0 {
            return None;
        }
        #[allow(clippy::cast_precision_loss)] // a ratio needs no more than f64's 53 bits
        Some(self.available_bytes as f64 / self.capacity_bytes as f64)
    }

    /// How a violation names the store: `store 4 (tikv2:20160)`.
    pub(crate) fn describe(&self) -> String {
        format!("store {} ({})", self.id, self.address)
    }
}

/// A store's state, as PD's `state_name`.
///
/// `Up`, `Offline` and `Tombstone` are PD's stored states; `Disconnected` (no heartbeat for
/// 20 s) and `Down` (none for `max-store-down-time`, 30 min by default) are what PD reports for
/// an `Up` store that stopped heartbeating.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum StoreState {
    /// Serving.
    Up,
    /// No heartbeat for a short while.
    Disconnected,
    /// No heartbeat for longer than `max-store-down-time`; PD re-replicates its regions.
    Down,
    /// Being removed: its regions move away.
    Offline,
    /// Removed; kept until `pd-ctl store remove-tombstone`.
    Tombstone,
    /// A name this version does not know.
    Other(String),
}

impl StoreState {
    /// The name PD uses.
    pub fn as_str(&self) -> &str {
        match self {
            StoreState::Up => "Up",
            StoreState::Disconnected => "Disconnected",
            StoreState::Down => "Down",
            StoreState::Offline => "Offline",
            StoreState::Tombstone => "Tombstone",
            StoreState::Other(name) => name,
        }
    }
}

impl From<String> for StoreState {
    fn from(name: String) -> Self {
        match name.as_str() {
            "Up" => StoreState::Up,
            "Disconnected" => StoreState::Disconnected,
            "Down" => StoreState::Down,
            "Offline" => StoreState::Offline,
            "Tombstone" => StoreState::Tombstone,
            _ => StoreState::Other(name),
        }
    }
}

impl From<StoreState> for String {
    fn from(state: StoreState) -> Self {
        state.as_str().to_owned()
    }
}

impl fmt::Display for StoreState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Per-store metrics and their source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsObservation {
    /// Freshness of every store's `qps` and `grpc_p99_seconds`.
    pub source: Freshness,
    /// Prometheus `instance` labels that match no store's status address (a sign that
    /// Prometheus scrapes other addresses than the ones the stores advertise).
    pub unmatched_instances: Vec<String>,
}

/// How fresh the data of one source is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Freshness {
    /// Read by this observation.
    Live,
    /// The source failed; its last data, read at `as_of`, is shown instead.
    Stale {
        /// When the data shown was read.
        as_of: DateTime<Utc>,
        /// Why it could not be read now.
        error: String,
    },
    /// The source failed and has never answered since the monitor started.
    Unavailable {
        /// Why it could not be read.
        error: String,
    },
    /// Not configured.
    Disabled,
}

impl Freshness {
    /// The error of a failed source.
    pub fn error(&self) -> Option<&str> {
        match self {
            Freshness::Stale { error, .. } | Freshness::Unavailable { error } => Some(error),
            Freshness::Live | Freshness::Disabled => None,
        }
    }

    /// Whether the data shown was read by this observation.
    pub fn is_live(&self) -> bool {
        matches!(self, Freshness::Live)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_states_round_trip_through_pd_names() {
        for name in [
            "Up",
            "Disconnected",
            "Down",
            "Offline",
            "Tombstone",
            "Serving",
        ] {
            let state = StoreState::from(name.to_owned());
            assert_eq!(state.as_str(), name);
            assert_eq!(serde_json::to_value(&state).unwrap(), name);
        }
        assert_eq!(
            StoreState::from("Serving".to_owned()),
            StoreState::Other("Serving".into())
        );
    }

    #[test]
    fn freshness_serializes_with_a_state_tag() {
        let stale = Freshness::Stale {
            as_of: DateTime::from_timestamp(0, 0).unwrap(),
            error: "timed out".into(),
        };
        let json = serde_json::to_value(&stale).unwrap();
        assert_eq!(json["state"], "stale");
        assert_eq!(json["error"], "timed out");
        assert_eq!(
            serde_json::to_value(Freshness::Live).unwrap(),
            serde_json::json!({"state": "live"})
        );
    }
}
