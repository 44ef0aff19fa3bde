//! The PD and Prometheus clients, through `TikvSubject::observe`, against the simulator.

mod support;

use std::time::{Duration, Instant};

use operator_core::Subject;
use operator_tikv::simulator::{Availability, Simulator};
use operator_tikv::{Error, Freshness, StoreState, TikvConfig, TikvSubject};
use support::config;

async fn observe(config: TikvConfig) -> operator_tikv::Result<operator_tikv::TikvObservation> {
    TikvSubject::new(config)
        .expect("valid configuration")
        .observe()
        .await
}

#[tokio::test]
async fn observes_the_simulated_cluster() {
    let sim = Simulator::start().await.unwrap();
    let obs = observe(config(&sim)).await.unwrap();

    let ids: Vec<u64> = obs.stores.iter().map(|s| s.id).collect();
    assert_eq!(ids, [1, 4, 5]);
    let s1 = obs.store(1).unwrap();
    assert_eq!(s1.state, StoreState::Up);
    assert_eq!(s1.address, "tikv1:20160");
    assert_eq!(s1.status_address, "tikv1:20180");
    assert_eq!(s1.leader_count, 14);
    assert_eq!(s1.region_count, 42);
    let ratio = s1.available_ratio().unwrap();
    assert!((ratio - 71.2 / 98.31).abs() < 1e-3, "{ratio}");
    assert!(s1.last_heartbeat.is_some());
    // Metrics are matched by status address: each store gets its own.
    assert_eq!(s1.grpc_p99_seconds, Some(0.0123));
    assert_eq!(s1.qps, Some(212.4));
    assert_eq!(obs.store(4).unwrap().grpc_p99_seconds, Some(0.01536));
    assert_eq!(
        obs.store(5).unwrap().grpc_p99_seconds,
        None,
        "no traffic: NaN quantile, no data"
    );
    assert_eq!(obs.store(5).unwrap().qps, Some(0.0));
    assert!(obs.metrics.unmatched_instances.is_empty());
    assert_eq!(obs.metrics.source, Freshness::Live);

    assert_eq!(obs.pd.endpoint, sim.pd_url());
    assert!(obs.pd.unreachable.is_empty());
    assert_eq!(obs.pd.leader.as_deref(), Some("pd2"));
    let members: Vec<(&str, Option<bool>, bool)> = obs
        .pd
        .members
        .iter()
        .map(|m| (m.name.as_str(), m.healthy, m.is_leader))
        .collect();
    assert_eq!(
        members,
        [
            ("pd1", Some(true), false),
            ("pd2", Some(true), true),
            ("pd3", Some(true), false)
        ]
    );
    assert_eq!(obs.pd.members_source, Freshness::Live);
    assert_eq!(obs.pd.region_count, Some(42));
}

#[tokio::test]
async fn one_observation_costs_six_requests_whatever_the_cluster_size() {
    let sim = Simulator::start().await.unwrap();
    let subject = TikvSubject::new(config(&sim)).unwrap();
    let expected: Vec<(String, u64)> = [
        ("pd /pd/api/v1/health", 1),
        ("pd /pd/api/v1/members", 1),
        ("pd /pd/api/v1/stats/region", 1),
        ("pd /pd/api/v1/stores", 1),
        ("prometheus /api/v1/query", 2),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();

    subject.observe().await.unwrap();
    assert_eq!(sim.requests().into_iter().collect::<Vec<_>>(), expected);

    sim.update(|s| {
        for id in 10..40 {
            s.add_store(id, &format!("tikv{id}"));
        }
    });
    sim.reset_requests();
    let obs = subject.observe().await.unwrap();
    assert_eq!(obs.stores.len(), 33);
    assert_eq!(obs.store(39).unwrap().qps, Some(212.4));
    assert_eq!(sim.requests().into_iter().collect::<Vec<_>>(), expected);
}

#[tokio::test]
async fn stores_in_every_state_are_listed() {
    let sim = Simulator::start().await.unwrap();
    sim.set_store_state(1, "Down");
    sim.set_store_state(4, "Offline");
    sim.set_store_state(5, "Tombstone");
    let obs = observe(config(&sim)).await.unwrap();
    let states: Vec<&StoreState> = obs.stores.iter().map(|s| &s.state).collect();
    assert_eq!(
        states,
        [
            &StoreState::Down,
            &StoreState::Offline,
            &StoreState::Tombstone
        ],
        "PD lists tombstones only when asked for every state"
    );
    // Prometheus no longer scrapes the down and removed stores.
    assert_eq!(obs.store(1).unwrap().qps, None);
    assert_eq!(obs.store(4).unwrap().qps, Some(198.933_333_333_333_34));
}

#[tokio::test]
async fn unreachable_pd_fails_the_observation_naming_the_endpoint() {
    let e = observe(TikvConfig::default().pd_endpoints(["http://127.0.0.1:1"]))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::PdUnreachable { .. }), "{e:?}");
    assert!(e.is_transient());
    let message = e.to_string();
    assert!(
        message.starts_with("PD unreachable: http://127.0.0.1:1: ") && message.contains("refused"),
        "{message}"
    );
}

#[tokio::test]
async fn pd_that_stops_answering_times_out() {
    let sim = Simulator::start().await.unwrap();
    sim.set_pd(Availability::Hang);
    let started = Instant::now();
    let e = observe(config(&sim).request_timeout(Duration::from_millis(300)))
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "bounded by the request timeout"
    );
    assert_eq!(
        e.to_string(),
        format!("PD unreachable: {}: timed out", sim.pd_url())
    );
}

#[tokio::test]
async fn pd_answering_errors_is_unreachable() {
    let sim = Simulator::start().await.unwrap();
    sim.set_pd(Availability::Error(500));
    let e = observe(config(&sim)).await.unwrap_err();
    let message = e.to_string();
    assert!(
        message.starts_with(&format!("PD unreachable: {}: HTTP 500: ", sim.pd_url()))
            && message.contains("not bootstrapped"),
        "{message}"
    );
}

#[tokio::test]
async fn the_next_pd_endpoint_is_tried_and_the_failed_one_reported() {
    let sim = Simulator::start().await.unwrap();
    let obs = observe(config(&sim).pd_endpoints(["http://127.0.0.1:1".to_owned(), sim.pd_url()]))
        .await
        .unwrap();
    assert_eq!(obs.pd.endpoint, sim.pd_url());
    assert_eq!(obs.pd.unreachable.len(), 1);
    assert_eq!(obs.pd.unreachable[0].endpoint, "http://127.0.0.1:1");
    assert_eq!(obs.stores.len(), 3);
}

#[tokio::test]
async fn failing_membership_apis_show_the_last_health_as_stale() {
    let sim = Simulator::start().await.unwrap();
    let subject = TikvSubject::new(config(&sim)).unwrap();
    sim.set_member_health("pd3", false);
    subject.observe().await.unwrap();

    sim.set_membership_api(Availability::Error(500));
    sim.set_member_health("pd3", true); // not visible: the API fails
    let obs = subject.observe().await.unwrap();
    assert!(
        matches!(&obs.pd.members_source, Freshness::Stale { error, .. } if error.starts_with("HTTP 500: ")),
        "{:?}",
        obs.pd.members_source
    );
    assert_eq!(obs.pd.members[2].healthy, Some(false), "last known health");
    assert_eq!(obs.stores.len(), 3, "stores are still live");

    sim.set_membership_api(Availability::Up);
    let obs = subject.observe().await.unwrap();
    assert_eq!(obs.pd.members_source, Freshness::Live);
    assert_eq!(obs.pd.members[2].healthy, Some(true));
}

#[tokio::test]
async fn prometheus_outage_shows_the_last_metrics_as_stale() {
    let sim = Simulator::start().await.unwrap();
    let subject = TikvSubject::new(config(&sim)).unwrap();
    sim.set_p99(1, Some(Duration::from_millis(800)));
    subject.observe().await.unwrap();

    sim.set_prometheus(Availability::Error(503));
    sim.set_p99(1, Some(Duration::from_millis(10))); // not visible: Prometheus is down
    let obs = subject.observe().await.unwrap();
    match &obs.metrics.source {
        Freshness::Stale { error, .. } => {
            assert!(
                *error
                    == format!(
                        "{}: prometheus query failed (unavailable): the simulated Prometheus is unavailable",
                        sim.prometheus_url()
                    ),
                "{error}"
            );
        }
        other => panic!("expected stale metrics, got {other:?}"),
    }
    assert_eq!(obs.store(1).unwrap().grpc_p99_seconds, Some(0.8));

    sim.set_prometheus(Availability::Up);
    let obs = subject.observe().await.unwrap();
    assert_eq!(obs.metrics.source, Freshness::Live);
    assert_eq!(obs.store(1).unwrap().grpc_p99_seconds, Some(0.01));
}

#[tokio::test]
async fn prometheus_down_from_the_start_leaves_metrics_unavailable() {
    let sim = Simulator::start().await.unwrap();
    sim.set_prometheus(Availability::Hang);
    let obs = observe(config(&sim).request_timeout(Duration::from_millis(300)))
        .await
        .unwrap();
    assert!(
        matches!(&obs.metrics.source, Freshness::Unavailable { error } if *error == format!("{}: timed out", sim.prometheus_url())),
        "{:?}",
        obs.metrics.source
    );
    assert!(obs.stores.iter().all(|s| s.grpc_p99_seconds.is_none()));
}

#[tokio::test]
async fn without_prometheus_no_query_is_made() {
    let sim = Simulator::start().await.unwrap();
    let obs = observe(config(&sim).prometheus(None::<String>))
        .await
        .unwrap();
    assert_eq!(obs.metrics.source, Freshness::Disabled);
    assert!(!sim.requests().contains_key("prometheus /api/v1/query"));
}

#[tokio::test]
async fn metrics_of_unknown_instances_are_reported() {
    let sim = Simulator::start().await.unwrap();
    // Prometheus scrapes store 4 by IP while the store advertises a host name.
    sim.update(|s| s.store_mut(4).unwrap().prometheus_instance = Some("10.0.0.2:20180".into()));
    let obs = observe(config(&sim)).await.unwrap();
    assert_eq!(obs.metrics.unmatched_instances, ["10.0.0.2:20180"]);
    assert_eq!(obs.store(4).unwrap().qps, None);
    assert_eq!(obs.store(1).unwrap().qps, Some(212.4));
}

#[tokio::test]
async fn description_names_the_endpoints() {
    let sim = Simulator::start().await.unwrap();
    let subject = TikvSubject::new(config(&sim)).unwrap();
    let d = subject.description();
    assert!(
        d.contains(&sim.pd_url()) && d.contains(&sim.prometheus_url()),
        "{d}"
    );
    assert_eq!(subject.name(), "tikv");
}
