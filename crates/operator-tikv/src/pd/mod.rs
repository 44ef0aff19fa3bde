//! The PD HTTP API client.
//!
//! One snapshot costs four concurrent requests to one PD endpoint, whatever the cluster's size:
//! `/pd/api/v1/stores` (every store with its state, capacity and leader and region counts),
//! `/pd/api/v1/members`, `/pd/api/v1/health` and `/pd/api/v1/stats/region?count` (the region
//! count, without listing regions). Endpoints are tried in their configured order until one
//! answers the store list, which is the one thing an observation cannot do without.
//!
//! The response shapes are PD v8's (`pkg/response/store.go`, `server/api/health.go`,
//! `pdpb.GetMembersResponse`, `pkg/statistics.RegionStats`); see `src/simulator/fixtures/`.

mod wire;

use std::collections::BTreeMap;

use crate::error::{EndpointFailure, Error, Result};
use crate::http::{Http, endpoint_url};
use crate::observation::{PdMember, StoreObservation};

/// Every store, tombstones included (PD lists only `Up` and `Offline` ones by default; the
/// numbers are `metapb.StoreState`: Up, Offline, Tombstone).
pub const STORES_PATH: &str = "/pd/api/v1/stores?state=0&state=1&state=2";
/// The PD members and the leader.
pub const MEMBERS_PATH: &str = "/pd/api/v1/members";
/// The health of every PD member, as checked by the member asked.
pub const HEALTH_PATH: &str = "/pd/api/v1/health";
/// The number of regions only (`count`), which PD answers without scanning them.
pub const REGION_STATS_PATH: &str = "/pd/api/v1/stats/region?count";

/// What one PD endpoint answered.
#[derive(Debug)]
pub(crate) struct PdSnapshot {
    /// The endpoint that answered.
    pub(crate) endpoint: String,
    /// Endpoints tried before it that failed.
    pub(crate) unreachable: Vec<EndpointFailure>,
    /// The stores, without metrics, ordered by id.
    pub(crate) stores: Vec<StoreObservation>,
    /// Number of regions, when PD answered it.
    pub(crate) region_count: Option<u64>,
}

/// PD's members, their health and its leader.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Membership {
    /// Name of the leader.
    pub(crate) leader: Option<String>,
    /// Members, ordered by name.
    pub(crate) members: Vec<PdMember>,
}

/// Client of the PD HTTP API.
#[derive(Debug, Clone)]
pub(crate) struct PdClient {
    http: Http,
    endpoints: Vec<String>,
}

impl PdClient {
    /// A client of these endpoints (validated URLs), tried in order.
    pub(crate) fn new(http: Http, endpoints: Vec<String>) -> Self {
        Self { http, endpoints }
    }

    /// Reads the cluster from the first endpoint that answers the store list, with PD's members
    /// and their health (both APIs must answer for those).
    ///
    /// # Errors
    /// [`Error::PdUnreachable`] when no endpoint answers the store list.
    pub(crate) async fn snapshot(&self) -> Result<(PdSnapshot, Result<Membership>)> {
        let mut failures = Vec::new();
        for endpoint in &self.endpoints {
            match self.snapshot_from(endpoint).await {
                Ok((mut snapshot, membership)) => {
                    snapshot.unreachable = failures;
                    return Ok((snapshot, membership));
                }
                Err(e) => {
                    tracing::warn!(endpoint = %endpoint, error = %e.summary(), "PD endpoint failed");
                    failures.push(EndpointFailure {
                        endpoint: endpoint.clone(),
                        error: e.short(),
                    });
                }
            }
        }
        Err(Error::PdUnreachable { failures })
    }

    async fn snapshot_from(&self, endpoint: &str) -> Result<(PdSnapshot, Result<Membership>)> {
        let (stores, members, health, region_count) = tokio::join!(
            self.stores(endpoint),
            self.members(endpoint),
            self.health(endpoint),
            self.region_count(endpoint),
        );
        let membership = match (members, health) {
            (Ok(members), Ok(health)) => Ok(merge_membership(members, health)),
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
        if let Err(e) = &region_count {
            tracing::debug!(endpoint = %endpoint, error = %e.summary(), "PD region count unavailable");
        }
        let snapshot = PdSnapshot {
            endpoint: endpoint.to_owned(),
            unreachable: Vec::new(),
            stores: stores?,
            region_count: region_count.ok(),
        };
        Ok((snapshot, membership))
    }

    async fn stores(&self, endpoint: &str) -> Result<Vec<StoreObservation>> {
        let url = endpoint_url(endpoint, STORES_PATH)?;
        let url_text = url.to_string();
        let info: wire::StoresInfo = self.http.get_json(url).await?;
        let mut stores = info
            .stores
            .into_iter()
            .map(|s| s.into_observation())
            .collect::<std::result::Result<Vec<_>, String>>()
            .map_err(|message| Error::Invalid {
                url: url_text,
                message,
            })?;
        stores.sort_by_key(|s| s.id);
        Ok(stores)
    }

    async fn members(&self, endpoint: &str) -> Result<wire::MembersInfo> {
        self.http
            .get_json(endpoint_url(endpoint, MEMBERS_PATH)?)
            .await
    }

    async fn health(&self, endpoint: &str) -> Result<Vec<wire::Health>> {
        self.http
            .get_json(endpoint_url(endpoint, HEALTH_PATH)?)
            .await
    }

    async fn region_count(&self, endpoint: &str) -> Result<u64> {
        let stats: wire::RegionStats = self
            .http
            .get_json(endpoint_url(endpoint, REGION_STATS_PATH)?)
            .await?;
        Ok(stats.count)
    }
}

/// Members from `/members`, health from `/health` (matched by member id, else by name).
fn merge_membership(info: wire::MembersInfo, health: Vec<wire::Health>) -> Membership {
    let leader = info.leader.map(|l| l.name).filter(|n| !n.is_empty());
    let by_id: BTreeMap<u64, bool> = health.iter().map(|h| (h.member_id, h.health)).collect();
    let by_name: BTreeMap<&str, bool> =
        health.iter().map(|h| (h.name.as_str(), h.health)).collect();
    let mut members: Vec<PdMember> = info
        .members
        .into_iter()
        .map(|m| PdMember {
            healthy: by_id
                .get(&m.member_id)
                .or_else(|| by_name.get(m.name.as_str()))
                .copied(),
            is_leader: leader.as_deref() == Some(m.name.as_str()),
            name: m.name,
            member_id: m.member_id,
            client_urls: m.client_urls,
        })
        .collect();
    members.sort_by(|a, b| a.name.cmp(&b.name));
    Membership { leader, members }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bytesize;
    use crate::observation::StoreState;

    const STORES: &str = include_str!("../simulator/fixtures/pd_stores.json");
    const MEMBERS: &str = include_str!("../simulator/fixtures/pd_members.json");
    const HEALTH: &str = include_str!("../simulator/fixtures/pd_health.json");
    const REGIONS: &str = include_str!("../simulator/fixtures/pd_stats_region.json");

    #[test]
    fn reads_pd_v8_stores() {
        let info: wire::StoresInfo = serde_json::from_str(STORES).unwrap();
        let stores: Vec<StoreObservation> = info
            .stores
            .into_iter()
            .map(|s| s.into_observation().unwrap())
            .collect();
        let ids: Vec<u64> = stores.iter().map(|s| s.id).collect();
        assert_eq!(ids, [1, 4, 5]);
        let first = &stores[0];
        assert_eq!(first.address, "tikv1:20160");
        assert_eq!(first.status_address, "tikv1:20180");
        assert_eq!(first.state, StoreState::Up);
        assert_eq!(first.capacity_bytes, bytesize::parse("98.31GiB").unwrap());
        assert_eq!(first.available_bytes, bytesize::parse("71.2GiB").unwrap());
        assert_eq!(first.leader_count, 14);
        assert_eq!(first.region_count, 42);
        assert!((first.leader_weight - 1.0).abs() < f64::EPSILON);
        assert!(first.last_heartbeat.is_some());
        assert!(first.qps.is_none() && first.grpc_p99_seconds.is_none());
    }

    #[test]
    fn a_byte_size_pd_never_writes_is_an_error() {
        let json = r#"{"store": {"id": 7, "state_name": "Up"}, "status": {"capacity": "lots"}}"#;
        let info: wire::StoreInfo = serde_json::from_str(json).unwrap();
        let e = info.into_observation().unwrap_err();
        assert!(e.contains("store 7") && e.contains("\"lots\""), "{e}");
    }

    #[test]
    fn a_minimal_store_reads_with_defaults() {
        let json = r#"{"store": {"id": 2, "state_name": "Tombstone"}}"#;
        let info: wire::StoreInfo = serde_json::from_str(json).unwrap();
        let store = info.into_observation().unwrap();
        assert_eq!(store.state, StoreState::Tombstone);
        assert_eq!(store.capacity_bytes, 0);
        assert!(store.available_ratio().is_none());
    }

    #[test]
    fn merges_members_with_their_health() {
        let members: wire::MembersInfo = serde_json::from_str(MEMBERS).unwrap();
        let health: Vec<wire::Health> = serde_json::from_str(HEALTH).unwrap();
        let m = merge_membership(members, health);
        assert_eq!(m.leader.as_deref(), Some("pd2"));
        let names: Vec<&str> = m.members.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["pd1", "pd2", "pd3"]);
        assert!(m.members.iter().all(|m| m.healthy == Some(true)));
        assert!(m.members[1].is_leader && !m.members[0].is_leader);
        assert_eq!(m.members[0].client_urls, ["http://pd1:2379"]);
    }

    #[test]
    fn a_member_missing_from_health_has_unknown_health() {
        let members: wire::MembersInfo = serde_json::from_str(MEMBERS).unwrap();
        let mut health: Vec<wire::Health> = serde_json::from_str(HEALTH).unwrap();
        health.retain(|h| h.name != "pd3");
        health[0].health = false;
        let m = merge_membership(members, health);
        let healthy: Vec<Option<bool>> = m.members.iter().map(|m| m.healthy).collect();
        assert_eq!(healthy, [Some(false), Some(true), None]);
    }

    #[test]
    fn reads_the_region_count() {
        let stats: wire::RegionStats = serde_json::from_str(REGIONS).unwrap();
        assert_eq!(stats.count, 42);
    }
}
