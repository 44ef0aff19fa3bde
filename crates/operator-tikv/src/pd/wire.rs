//! The JSON of PD's API, read leniently: fields PD omits when empty default.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::bytesize;
use crate::observation::{StoreObservation, StoreState};

/// `GET /pd/api/v1/stores` (`response.StoresInfo`).
#[derive(Debug, Deserialize)]
pub(crate) struct StoresInfo {
    #[serde(default)]
    pub(crate) stores: Vec<StoreInfo>,
}

/// `response.StoreInfo`.
#[derive(Debug, Deserialize)]
pub(crate) struct StoreInfo {
    pub(crate) store: MetaStore,
    #[serde(default)]
    pub(crate) status: Option<StoreStatus>,
}

/// `response.MetaStore`: `metapb.Store` plus `state_name`.
#[derive(Debug, Deserialize)]
pub(crate) struct MetaStore {
    pub(crate) id: u64,
    #[serde(default)]
    pub(crate) address: String,
    #[serde(default)]
    pub(crate) status_address: String,
    #[serde(default)]
    pub(crate) version: String,
    #[serde(default)]
    pub(crate) state_name: String,
}

/// `response.StoreStatus`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct StoreStatus {
    #[serde(default)]
    pub(crate) capacity: Option<ByteSize>,
    #[serde(default)]
    pub(crate) available: Option<ByteSize>,
    #[serde(default)]
    pub(crate) leader_count: u64,
    #[serde(default)]
    pub(crate) leader_weight: Option<f64>,
    #[serde(default)]
    pub(crate) region_count: u64,
    #[serde(default)]
    pub(crate) last_heartbeat_ts: Option<String>,
}

/// A `typeutil.ByteSize`: a string such as `"98.31GiB"` (or a plain number, leniently).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum ByteSize {
    /// As PD writes it.
    Text(String),
    /// A number of bytes.
    Bytes(u64),
}

impl ByteSize {
    fn bytes(&self, field: &str, store: u64) -> Result<u64, String> {
        match self {
            ByteSize::Bytes(b) => Ok(*b),
            ByteSize::Text(t) => bytesize::parse(t)
                .ok_or_else(|| format!("store {store}: {field} {t:?} is not a byte size")),
        }
    }
}

impl StoreInfo {
    /// The store as observed (metrics are added later).
    ///
    /// # Errors
    /// A message when a byte size cannot be read.
    pub(crate) fn into_observation(self) -> Result<StoreObservation, String> {
        let id = self.store.id;
        let status = self.status.unwrap_or_default();
        let bytes =
            |size: &Option<ByteSize>, field| size.as_ref().map_or(Ok(0), |s| s.bytes(field, id));
        Ok(StoreObservation {
            id,
            address: self.store.address,
            status_address: self.store.status_address,
            version: self.store.version,
            state: StoreState::from(self.store.state_name),
            capacity_bytes: bytes(&status.capacity, "capacity")?,
            available_bytes: bytes(&status.available, "available")?,
            leader_count: status.leader_count,
            leader_weight: status.leader_weight.unwrap_or(1.0),
            region_count: status.region_count,
            last_heartbeat: status
                .last_heartbeat_ts
                .as_deref()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc)),
            qps: None,
            grpc_p99_seconds: None,
        })
    }
}

/// `GET /pd/api/v1/members` (`pdpb.GetMembersResponse`).
#[derive(Debug, Deserialize)]
pub(crate) struct MembersInfo {
    #[serde(default)]
    pub(crate) members: Vec<Member>,
    #[serde(default)]
    pub(crate) leader: Option<Member>,
}

/// `pdpb.Member`.
#[derive(Debug, Deserialize)]
pub(crate) struct Member {
    #[serde(default)]
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) member_id: u64,
    #[serde(default)]
    pub(crate) client_urls: Vec<String>,
}

/// One element of `GET /pd/api/v1/health` (`api.Health`).
#[derive(Debug, Deserialize)]
pub(crate) struct Health {
    #[serde(default)]
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) member_id: u64,
    #[serde(default)]
    pub(crate) health: bool,
}

/// `GET /pd/api/v1/stats/region` (`statistics.RegionStats`); only the count is read.
#[derive(Debug, Deserialize)]
pub(crate) struct RegionStats {
    #[serde(default)]
    pub(crate) count: u64,
}
