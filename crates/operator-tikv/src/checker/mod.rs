//! [`TikvChecker`]: the invariants of a TiKV cluster, pure functions of one observation.
//!
//! | Invariant | Entity | Fires when | Pending | Keep firing |
//! |---|---|---|---|---|
//! | `store_down` | store id | a store is `Down` (critical), `Disconnected` or `Offline` (warning), `Tombstone` (info) | 0 s | 1 min |
//! | `pd_unhealthy` | member name, unreachable endpoint, or none for PD as a whole | a member fails PD's health check (critical once quorum is lost), a configured endpoint does not answer, PD has no leader, or its membership APIs fail | 15 s | 30 s |
//! | `high_latency` | store id | a store's gRPC p99 exceeds `p99_warning` (critical from `p99_critical`) | 1 min | 1 min |
//! | `low_disk_space` | store id | available space is below `disk_available_warning` of capacity (critical below `disk_available_critical`) | 1 min | 5 min |
//! | `leader_imbalance` | store id | an `Up` store's leader count is off its weighted fair share by more than `leader_imbalance` | 10 min | 2 min |
//! | `prometheus_unreachable` | none | Prometheus does not answer: latency is shown stale or not at all | 30 s | 0 s |
//!
//! Data shown stale (see [`Freshness`](crate::Freshness)) is checked like live data and the
//! violation says so; and what a dark source says nothing about is declared
//! [unknown](InvariantChecker::unknown), so the monitor neither opens nor resolves the tickets
//! built on it (even after a restart of the monitor, when no last value is known).
//!
//! One module per concern, each naming the invariants it checks: `stores` (`store_down`,
//! `low_disk_space`), `pd_health` (`pd_unhealthy`), `latency` (`high_latency`,
//! `prometheus_unreachable`), `leaders` (`leader_imbalance`). This module declares the
//! invariants and runs the checks; the checks never import it.

mod latency;
mod leaders;
mod pd_health;
mod stores;

pub use latency::{HIGH_LATENCY, PROMETHEUS_UNREACHABLE};
pub use leaders::LEADER_IMBALANCE;
pub use pd_health::PD_UNHEALTHY;
pub use stores::{LOW_DISK_SPACE, STORE_DOWN};

use std::time::Duration;

use operator_core::{History, InvariantChecker, InvariantSpec, Unknown, Violation};

use crate::config::Thresholds;
use crate::observation::TikvObservation;

/// The invariants of a TiKV cluster, with their thresholds.
#[derive(Debug, Clone, Default)]
pub struct TikvChecker {
    thresholds: Thresholds,
}

impl TikvChecker {
    /// A checker with these (validated) thresholds.
    pub fn new(thresholds: Thresholds) -> Self {
        Self { thresholds }
    }

    /// Its thresholds.
    pub fn thresholds(&self) -> &Thresholds {
        &self.thresholds
    }
}

impl InvariantChecker<TikvObservation> for TikvChecker {
    fn invariants(&self) -> Vec<InvariantSpec> {
        let t = &self.thresholds;
        let secs = Duration::from_secs;
        vec![
            InvariantSpec::new(
                STORE_DOWN,
                "Every TiKV store is Up. Down (no heartbeat for PD's max-store-down-time: PD is \
                 re-creating its replicas elsewhere) is critical; Disconnected (no heartbeat for \
                 20 s) and Offline (being removed) are warnings; Tombstone (removed, not yet \
                 cleaned up) is informational.",
            )
            .keep_firing(secs(60)),
            InvariantSpec::new(
                PD_UNHEALTHY,
                "Every PD member passes PD's health check, every configured PD endpoint answers, \
                 and PD has a leader. An unhealthy member is a warning while a majority stays \
                 healthy and critical once quorum is lost.",
            )
            .pending(secs(15))
            .keep_firing(secs(30)),
            InvariantSpec::new(
                HIGH_LATENCY,
                format!(
                    "Every store's gRPC p99 latency (Prometheus) stays at or below {} ms; critical \
                     from {} ms.",
                    t.p99_warning.as_millis(),
                    t.p99_critical.as_millis()
                ),
            )
            .pending(secs(60))
            .keep_firing(secs(60)),
            InvariantSpec::new(
                LOW_DISK_SPACE,
                format!(
                    "Every store keeps at least {:.0} % of its disk capacity available (PD's \
                     capacity and available); critical below {:.0} %.",
                    t.disk_available_warning * 100.0,
                    t.disk_available_critical * 100.0
                ),
            )
            .pending(secs(60))
            .keep_firing(secs(300)),
            InvariantSpec::new(
                LEADER_IMBALANCE,
                format!(
                    "Raft leaders are spread over the Up stores in proportion to their leader \
                     weights: no store is more than {:.0} % off its share (checked once the Up \
                     stores hold {} leaders each on average).",
                    t.leader_imbalance * 100.0,
                    t.leader_min_mean
                ),
            )
            .pending(secs(600))
            .keep_firing(secs(120)),
            InvariantSpec::new(
                PROMETHEUS_UNREACHABLE,
                "The configured Prometheus answers queries; while it does not, store latency is \
                 shown as last known (stale) or not at all.",
            )
            .pending(secs(30)),
        ]
    }

    fn check(
        &self,
        current: &TikvObservation,
        _history: &History<TikvObservation>,
    ) -> Vec<Violation> {
        let mut out = Vec::new();
        stores::store_down(current, &mut out);
        pd_health::pd_unhealthy(current, &mut out);
        latency::high_latency(current, &self.thresholds, &mut out);
        latency::prometheus_unreachable(current, &mut out);
        stores::low_disk_space(current, &self.thresholds, &mut out);
        leaders::leader_imbalance(current, &self.thresholds, &mut out);
        out
    }

    fn unknown(
        &self,
        current: &TikvObservation,
        _history: &History<TikvObservation>,
    ) -> Vec<Unknown> {
        let mut out = Vec::new();
        if !current.metrics.source.is_live() && current.metrics.source != crate::Freshness::Disabled
        {
            out.push(Unknown::invariant(HIGH_LATENCY));
        }
        if !current.pd.members_source.is_live() {
            out.extend(
                current
                    .pd
                    .members
                    .iter()
                    .map(|m| Unknown::entity(PD_UNHEALTHY, &m.name)),
            );
        }
        out
    }
}

/// Hand-written observations for the invariants' table tests.
#[cfg(test)]
pub(crate) mod sample {
    use crate::observation::{
        Freshness, MetricsObservation, PdMember, PdObservation, StoreObservation, StoreState,
        TikvObservation,
    };

    /// An `Up` store with 100 GiB, half of it free, 10 leaders and no metrics.
    pub(crate) fn store(id: u64) -> StoreObservation {
        StoreObservation {
            id,
            address: format!("tikv{id}:20160"),
            status_address: format!("tikv{id}:20180"),
            version: "8.5.1".into(),
            state: StoreState::Up,
            capacity_bytes: 100 << 30,
            available_bytes: 50 << 30,
            leader_count: 10,
            leader_weight: 1.0,
            region_count: 30,
            last_heartbeat: None,
            qps: None,
            grpc_p99_seconds: None,
        }
    }

    /// A healthy member.
    pub(crate) fn member(name: &str, is_leader: bool) -> PdMember {
        PdMember {
            name: name.to_owned(),
            member_id: name.len() as u64,
            client_urls: vec![format!("http://{name}:2379")],
            is_leader,
            healthy: Some(true),
        }
    }

    /// A healthy cluster: three healthy PD members (pd1 leads), three `Up` stores 1..=3, live
    /// metrics.
    pub(crate) fn healthy() -> TikvObservation {
        TikvObservation {
            pd: PdObservation {
                endpoint: "http://pd1:2379".into(),
                unreachable: Vec::new(),
                leader: Some("pd1".into()),
                members: vec![
                    member("pd1", true),
                    member("pd2", false),
                    member("pd3", false),
                ],
                members_source: Freshness::Live,
                region_count: Some(30),
            },
            stores: (1..=3).map(store).collect(),
            metrics: MetricsObservation {
                source: Freshness::Live,
                unmatched_instances: Vec::new(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_healthy_cluster_violates_nothing() {
        let checker = TikvChecker::default();
        assert!(
            checker
                .check(&sample::healthy(), &History::new(1))
                .is_empty()
        );
    }

    #[test]
    fn every_invariant_is_documented_with_its_timing() {
        let specs = TikvChecker::default().invariants();
        let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                STORE_DOWN,
                PD_UNHEALTHY,
                HIGH_LATENCY,
                LOW_DISK_SPACE,
                LEADER_IMBALANCE,
                PROMETHEUS_UNREACHABLE
            ]
        );
        assert!(specs.iter().all(|s| s.description.len() > 40));
        let latency = &specs[2];
        assert_eq!(latency.pending, Duration::from_secs(60));
        assert!(latency.description.contains("500 ms"));
    }
}
