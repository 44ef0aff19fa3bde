//! [`TikvSubject`]: the cluster as an operator subject. All of its network I/O is here.
//!
//! An observation asks PD (four requests to the first endpoint that answers) and Prometheus (two
//! queries) concurrently, then joins the stores with their metrics by status address.
//!
//! **What could not be read is never taken as healthy.** Without PD's store list nothing about
//! the cluster can be said, so `observe` fails with
//! [`Error::PdUnreachable`]: the monitor reports `subject_unreachable` and freezes every other
//! alert. When only PD's membership APIs or Prometheus fail, the observation succeeds with the
//! last data those sources gave, marked [`Freshness::Stale`], so alerts computed from them neither
//! resolve nor appear on account of the outage; the outage itself is reported (`pd_unhealthy`,
//! `prometheus_unreachable`).

use std::collections::BTreeSet;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use operator_core::{ActionReport, Diagnosable, NoAction, Subject};

use crate::config::TikvConfig;
use crate::error::{Error, Result};
use crate::http::Http;
use crate::observation::{Freshness, MetricsObservation, PdObservation, TikvObservation};
use crate::pd::{Membership, PdClient, PdSnapshot};
use crate::prometheus::{InstanceMetrics, PrometheusClient};

/// Name of the subject, as in `--subject tikv` and in tickets.
pub const SUBJECT_NAME: &str = "tikv";

/// A TiKV cluster, observed through PD's HTTP API and Prometheus.
#[derive(Debug)]
pub struct TikvSubject {
    config: TikvConfig,
    pd: PdClient,
    prometheus: Option<PrometheusClient>,
    last: Mutex<LastKnown>,
}

/// The last data each optional source gave, to show (as stale) while it fails.
#[derive(Debug, Default)]
struct LastKnown {
    membership: Option<(DateTime<Utc>, Membership)>,
    metrics: Option<(DateTime<Utc>, InstanceMetrics)>,
}

impl TikvSubject {
    /// A subject for this configuration.
    ///
    /// # Errors
    /// [`Error::Config`] when the configuration is invalid, [`Error::Client`] when the HTTP client
    /// cannot be built.
    pub fn new(config: TikvConfig) -> Result<Self> {
        config.validate()?;
        let http = Http::new(config.request_timeout, config.connect_timeout)?;
        let pd = PdClient::new(http.clone(), config.pd_endpoints.clone());
        let prometheus = config
            .prometheus
            .clone()
            .map(|url| PrometheusClient::new(http, url, config.rate_window));
        Ok(Self {
            config,
            pd,
            prometheus,
            last: Mutex::new(LastKnown::default()),
        })
    }

    /// Its configuration.
    pub fn config(&self) -> &TikvConfig {
        &self.config
    }

    async fn metrics(&self) -> Option<Result<InstanceMetrics>> {
        match &self.prometheus {
            Some(client) => Some(client.instance_metrics().await),
            None => None,
        }
    }
}

impl Subject for TikvSubject {
    type Observation = TikvObservation;
    type Action = NoAction;
    type Error = Error;

    fn name(&self) -> &str {
        SUBJECT_NAME
    }

    fn description(&self) -> String {
        let metrics = match &self.config.prometheus {
            Some(url) => {
                format!("from the Prometheus at {url}, which scrapes the stores' status ports")
            }
            None => "not collected (no Prometheus configured)".to_owned(),
        };
        format!(
            "A TiKV cluster: a distributed transactional key-value store. PD (the placement driver, \
             reached at {pd}) holds the cluster metadata in a Raft group of PD members, one of them \
             the leader, and schedules data across TiKV stores. Data is split into regions, each \
             replicated on several stores by Raft; a region's Raft leader serves its reads and \
             writes. Stores report their state, disk capacity and leader and region counts to PD \
             by heartbeat; PD marks a silent store Disconnected after 20 s and Down after \
             max-store-down-time. Per-store gRPC QPS and p99 latency are {metrics}.",
            pd = self.config.pd_endpoints.join(", "),
        )
    }

    async fn observe(&self) -> Result<TikvObservation> {
        let (pd, metrics) = tokio::join!(self.pd.snapshot(), self.metrics());
        let now = Utc::now();
        // Remember what the optional sources gave even if PD failed, so that their last data is
        // as recent as possible when shown stale later.
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let metrics = match metrics {
            Some(result) => {
                if let Err(e) = &result {
                    tracing::warn!(subject = SUBJECT_NAME, error = %e.summary(), "prometheus query failed");
                }
                let url = self.config.prometheus.as_deref().unwrap_or_default();
                refresh(&mut last.metrics, result, now, |e| {
                    format!("{url}: {}", e.short())
                })
            }
            None => (None, Freshness::Disabled),
        };
        let (pd, membership) = pd?;
        if let Err(e) = &membership {
            tracing::warn!(subject = SUBJECT_NAME, endpoint = %pd.endpoint, error = %e.summary(), "PD membership unavailable");
        }
        let membership = refresh(&mut last.membership, membership, now, Error::short);
        drop(last);
        Ok(assemble(pd, membership, metrics))
    }

    async fn execute(&self, action: &NoAction) -> Result<ActionReport> {
        match *action {}
    }
}

impl Diagnosable for TikvSubject {
    async fn context(
        &self,
        _ticket: &operator_core::Ticket,
        latest: Option<&TikvObservation>,
    ) -> Vec<operator_core::ContextSection> {
        crate::diagnosis::context_sections(latest)
    }

    fn rules(&self) -> Vec<operator_core::Rule> {
        crate::diagnosis::rules()
    }
}

/// `result` when it is data (and remembered as the last data), else the last data marked stale
/// with the error as `describe` puts it.
fn refresh<T: Clone>(
    slot: &mut Option<(DateTime<Utc>, T)>,
    result: Result<T>,
    now: DateTime<Utc>,
    describe: impl Fn(&Error) -> String,
) -> (Option<T>, Freshness) {
    match result {
        Ok(value) => {
            *slot = Some((now, value.clone()));
            (Some(value), Freshness::Live)
        }
        Err(e) => {
            let error = describe(&e);
            match slot {
                Some((as_of, value)) => (
                    Some(value.clone()),
                    Freshness::Stale {
                        as_of: *as_of,
                        error,
                    },
                ),
                None => (None, Freshness::Unavailable { error }),
            }
        }
    }
}

/// Joins PD's answer with the membership and metrics to show.
fn assemble(
    pd: PdSnapshot,
    (membership, members_source): (Option<Membership>, Freshness),
    (metrics, metrics_source): (Option<InstanceMetrics>, Freshness),
) -> TikvObservation {
    let mut stores = pd.stores;
    let mut unmatched_instances = Vec::new();
    if let Some(metrics) = metrics {
        for store in &mut stores {
            store.qps = metrics.qps.get(&store.status_address).copied();
            store.grpc_p99_seconds = metrics.p99_seconds.get(&store.status_address).copied();
        }
        let known: BTreeSet<&str> = stores.iter().map(|s| s.status_address.as_str()).collect();
        let instances: BTreeSet<&String> = metrics
            .qps
            .keys()
            .chain(metrics.p99_seconds.keys())
            .collect();
        unmatched_instances = instances
            .into_iter()
            .filter(|i| !known.contains(i.as_str()))
            .cloned()
            .collect();
    }
    let (leader, members) = membership.map_or((None, Vec::new()), |m| (m.leader, m.members));
    TikvObservation {
        pd: PdObservation {
            endpoint: pd.endpoint,
            unreachable: pd.unreachable,
            leader,
            members,
            members_source,
            region_count: pd.region_count,
        },
        stores,
        metrics: MetricsObservation {
            source: metrics_source,
            unmatched_instances,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observation::{StoreObservation, StoreState};

    fn store(id: u64, status_address: &str) -> StoreObservation {
        StoreObservation {
            id,
            address: format!("tikv{id}:20160"),
            status_address: status_address.to_owned(),
            version: "8.5.1".into(),
            state: StoreState::Up,
            capacity_bytes: 100,
            available_bytes: 50,
            leader_count: 10,
            leader_weight: 1.0,
            region_count: 30,
            last_heartbeat: None,
            qps: None,
            grpc_p99_seconds: None,
        }
    }

    fn snapshot(stores: Vec<StoreObservation>) -> PdSnapshot {
        PdSnapshot {
            endpoint: "http://pd:2379".into(),
            unreachable: Vec::new(),
            stores,
            region_count: Some(30),
        }
    }

    #[test]
    fn metrics_join_stores_by_status_address_not_service_address() {
        let metrics = InstanceMetrics {
            qps: [
                ("tikv1:20180".to_owned(), 100.0),
                ("tikv1:20160".to_owned(), 1.0),
                ("tikv9:20180".to_owned(), 5.0),
            ]
            .into(),
            p99_seconds: [("tikv1:20180".to_owned(), 0.25)].into(),
        };
        let obs = assemble(
            snapshot(vec![store(1, "tikv1:20180"), store(2, "tikv2:20180")]),
            (None, Freshness::Live),
            (Some(metrics), Freshness::Live),
        );
        assert_eq!(obs.stores[0].qps, Some(100.0));
        assert_eq!(obs.stores[0].grpc_p99_seconds, Some(0.25));
        assert_eq!(obs.stores[1].qps, None, "no series for tikv2");
        assert_eq!(
            obs.metrics.unmatched_instances,
            ["tikv1:20160", "tikv9:20180"]
        );
        assert_eq!(obs.pd.region_count, Some(30));
    }

    #[test]
    fn a_failed_source_shows_its_last_data_as_stale() {
        let t0 = DateTime::from_timestamp(1_000, 0).unwrap();
        let t1 = DateTime::from_timestamp(2_000, 0).unwrap();
        let mut slot = None;
        let down = || Err(Error::Config("down".into()));
        let (value, fresh) = refresh(&mut slot, down(), t0, Error::short);
        assert_eq!(value, None::<u32>);
        assert!(matches!(fresh, Freshness::Unavailable { .. }));
        let (value, fresh) = refresh(&mut slot, Ok(7), t0, Error::short);
        assert_eq!((value, fresh), (Some(7), Freshness::Live));
        let (value, fresh) = refresh(&mut slot, down(), t1, Error::short);
        assert_eq!(value, Some(7));
        assert_eq!(
            fresh,
            Freshness::Stale {
                as_of: t0,
                error: "invalid TiKV configuration: down".into()
            }
        );
    }
}
