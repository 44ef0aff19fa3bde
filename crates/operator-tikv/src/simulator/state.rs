//! The simulated cluster's state, which tests change between observations.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

const STORES: &str = include_str!("fixtures/pd_stores.json");
const MEMBERS: &str = include_str!("fixtures/pd_members.json");
const HEALTH: &str = include_str!("fixtures/pd_health.json");
const REGIONS: &str = include_str!("fixtures/pd_stats_region.json");
const QPS: &str = include_str!("fixtures/prometheus_qps.json");
const P99: &str = include_str!("fixtures/prometheus_p99.json");

/// How a simulated server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    /// Normally.
    Up,
    /// Never: requests hang until the client gives up (a frozen or partitioned server).
    Hang,
    /// With this HTTP status and the server's usual error body.
    Error(u16),
}

/// The whole simulated cluster.
#[derive(Debug, Clone)]
pub struct ClusterState {
    /// TiKV stores, as PD lists them.
    pub stores: Vec<SimStore>,
    /// PD members.
    pub members: Vec<SimMember>,
    /// Name of the PD leader (`None`: PD has no leader).
    pub leader: Option<String>,
    /// Number of regions, as `/stats/region` reports it.
    pub region_count: u64,
    /// How the PD API answers.
    pub pd: Availability,
    /// How PD's `/members` and `/health` answer when the PD API is up (a PD whose etcd client
    /// fails still lists stores from its cache).
    pub membership_api: Availability,
    /// How the Prometheus API answers.
    pub prometheus: Availability,
    pub(crate) region_stats_template: Value,
}

/// One simulated store.
#[derive(Debug, Clone)]
pub struct SimStore {
    /// Store id.
    pub id: u64,
    /// Service address (`:20160`).
    pub address: String,
    /// Status address (`:20180`): Prometheus' `instance` label.
    pub status_address: String,
    /// PD's `state_name`: `Up`, `Disconnected`, `Down`, `Offline` or `Tombstone`.
    pub state_name: String,
    /// Disk capacity in bytes.
    pub capacity: u64,
    /// Available disk space in bytes.
    pub available: u64,
    /// Raft leaders held.
    pub leader_count: u64,
    /// Leader weight.
    pub leader_weight: f64,
    /// Region peers held.
    pub region_count: u64,
    /// gRPC QPS Prometheus reports.
    pub qps: f64,
    /// gRPC p99 in seconds Prometheus reports (`None`: no traffic, reported as `NaN`).
    pub p99_seconds: Option<f64>,
    /// The `instance` label Prometheus gives the store when it scrapes another address than
    /// the advertised status address (e.g. an IP for a host name); `None`: the status address.
    pub prometheus_instance: Option<String>,
    /// The store's JSON in the fixture: the fields the simulator does not model are kept.
    pub(crate) template: Value,
}

/// One simulated PD member.
#[derive(Debug, Clone)]
pub struct SimMember {
    /// Member name.
    pub name: String,
    /// Etcd member id.
    pub member_id: u64,
    /// Client URLs.
    pub client_urls: Vec<String>,
    /// Whether it passes PD's health check.
    pub healthy: bool,
    pub(crate) template: Value,
}

impl ClusterState {
    /// How `/members` and `/health` answer: as the PD API when it is down, else as
    /// `membership_api`.
    pub(crate) fn membership_availability(&self) -> Availability {
        match self.pd {
            Availability::Up => self.membership_api,
            down => down,
        }
    }

    /// The cluster of the fixtures: PD `pd1`..`pd3` (leader `pd2`), stores 1, 4, 5 on `tikv1`..
    /// `tikv3`, all healthy.
    ///
    /// # Panics
    /// If a fixture does not parse (they are compiled in and tested).
    pub fn from_fixtures() -> Self {
        let stores_json: Value = parse(STORES);
        let qps = samples(QPS);
        let p99 = samples(P99);
        let stores = array(&stores_json["stores"])
            .iter()
            .map(|raw| {
                let status_address = text(&raw["store"]["status_address"]);
                SimStore {
                    id: number(&raw["store"]["id"]),
                    address: text(&raw["store"]["address"]),
                    state_name: text(&raw["store"]["state_name"]),
                    capacity: size(&raw["status"]["capacity"]),
                    available: size(&raw["status"]["available"]),
                    leader_count: number(&raw["status"]["leader_count"]),
                    leader_weight: raw["status"]["leader_weight"].as_f64().unwrap_or(1.0),
                    region_count: number(&raw["status"]["region_count"]),
                    qps: qps.get(&status_address).copied().flatten().unwrap_or(0.0),
                    p99_seconds: p99.get(&status_address).copied().flatten(),
                    prometheus_instance: None,
                    status_address,
                    template: raw.clone(),
                }
            })
            .collect();
        let members_json: Value = parse(MEMBERS);
        let health: Value = parse(HEALTH);
        let members = array(&members_json["members"])
            .iter()
            .map(|raw| {
                let name = text(&raw["name"]);
                let healthy = array(&health)
                    .iter()
                    .any(|h| h["name"] == raw["name"] && h["health"] == true);
                SimMember {
                    member_id: number(&raw["member_id"]),
                    client_urls: array(&raw["client_urls"]).iter().map(text).collect(),
                    healthy,
                    name,
                    template: raw.clone(),
                }
            })
            .collect();
        let region_stats_template: Value = parse(REGIONS);
        Self {
            stores,
            members,
            leader: members_json["leader"]["name"].as_str().map(str::to_owned),
            region_count: number(&region_stats_template["count"]),
            pd: Availability::Up,
            membership_api: Availability::Up,
            prometheus: Availability::Up,
            region_stats_template,
        }
    }

    /// The store with this id.
    pub fn store_mut(&mut self, id: u64) -> Option<&mut SimStore> {
        self.stores.iter_mut().find(|s| s.id == id)
    }

    /// The member with this name.
    pub fn member_mut(&mut self, name: &str) -> Option<&mut SimMember> {
        self.members.iter_mut().find(|m| m.name == name)
    }

    /// Adds a healthy store like the first one, with this id and host name (`host:20160`,
    /// `host:20180`).
    ///
    /// # Panics
    /// If the cluster has no store to copy.
    pub fn add_store(&mut self, id: u64, host: &str) -> &mut SimStore {
        let mut store = self.stores.first().expect("a store to copy").clone();
        store.id = id;
        store.address = format!("{host}:20160");
        store.status_address = format!("{host}:20180");
        store.state_name = "Up".to_owned();
        self.stores.push(store);
        self.stores.last_mut().expect("just pushed")
    }
}

impl SimStore {
    /// Sets available space to `fraction` of capacity.
    pub fn set_available_fraction(&mut self, fraction: f64) {
        #[allow(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss
        )]
        {
            self.available = (self.capacity as f64 * fraction.clamp(0.0, 1.0)) as u64;
        }
    }

    /// Sets the p99 latency Prometheus reports.
    pub fn set_p99(&mut self, p99: Option<Duration>) {
        self.p99_seconds = p99.map(|d| d.as_secs_f64());
    }
}

fn parse(json: &str) -> Value {
    serde_json::from_str(json).expect("fixtures are valid JSON")
}

fn array(value: &Value) -> &[Value] {
    value.as_array().map_or(&[], Vec::as_slice)
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

fn number(value: &Value) -> u64 {
    value.as_u64().unwrap_or_default()
}

fn size(value: &Value) -> u64 {
    value
        .as_str()
        .and_then(crate::bytesize::parse)
        .unwrap_or_default()
}

/// `instance -> value` of a Prometheus vector fixture (`None` for `NaN`).
fn samples(json: &str) -> BTreeMap<String, Option<f64>> {
    let body: Value = parse(json);
    array(&body["data"]["result"])
        .iter()
        .map(|s| {
            let value = s["value"][1]
                .as_str()
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|v| v.is_finite());
            (text(&s["metric"]["instance"]), value)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixtures_make_a_healthy_cluster() {
        let state = ClusterState::from_fixtures();
        let ids: Vec<u64> = state.stores.iter().map(|s| s.id).collect();
        assert_eq!(ids, [1, 4, 5]);
        assert!(state.stores.iter().all(|s| s.state_name == "Up"));
        assert_eq!(state.stores[0].p99_seconds, Some(0.0123));
        assert_eq!(state.stores[2].p99_seconds, None);
        assert_eq!(state.leader.as_deref(), Some("pd2"));
        assert!(state.members.iter().all(|m| m.healthy));
        assert_eq!(state.members[2].member_id, 15_135_346_391_846_218_713);
        assert_eq!(state.region_count, 42);
    }
}
