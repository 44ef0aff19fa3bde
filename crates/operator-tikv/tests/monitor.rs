//! Each TiKV invariant opening and resolving a ticket through the unchanged generic monitor
//! loop, driven against the simulator.
//!
//! The loop is ticked by hand (`tick()`), with every invariant's pending and keep-firing periods
//! set to zero unless the test studies them; real time, because the subject talks to a real
//! HTTP server.

mod support;

use std::time::Duration;

use operator_core::Severity;
use operator_core::alert::Timing;
use operator_tikv::simulator::Availability;
use support::{Cluster, events, immediate_timings};

#[tokio::test]
async fn a_healthy_cluster_opens_nothing() {
    let mut c = Cluster::start().await;
    for _ in 0..3 {
        let r = c.tick().await;
        assert!(r.healthy(), "{:?}", r.firing);
        assert!(r.events.is_empty());
        assert!(r.observation_error.is_none());
    }
    assert!(c.open().is_empty());
}

#[tokio::test]
async fn store_down_opens_escalates_and_resolves() {
    let mut c = Cluster::start().await;
    c.sim.set_store_state(4, "Disconnected");
    assert_eq!(events(&c.tick().await), ["opened store_down[4]"]);
    c.sim.set_store_state(4, "Down");
    assert_eq!(
        events(&c.tick().await),
        ["escalated store_down[4] from warning to critical"]
    );
    let ticket = &c.store.open_tickets("tikv").unwrap()[0];
    assert_eq!(ticket.severity, Severity::Critical);
    assert!(ticket.message.contains("tikv2:20160"), "{}", ticket.message);

    c.sim.set_store_state(4, "Up");
    assert_eq!(events(&c.tick().await), ["resolved store_down[4]"]);
    assert!(c.open().is_empty());
}

#[tokio::test]
async fn low_disk_space_opens_and_resolves() {
    let mut c = Cluster::start().await;
    c.sim.set_available_fraction(5, 0.15);
    assert_eq!(events(&c.tick().await), ["opened low_disk_space[5]"]);
    c.sim.set_available_fraction(5, 0.05);
    assert_eq!(
        events(&c.tick().await),
        ["escalated low_disk_space[5] from warning to critical"]
    );
    c.sim.set_available_fraction(5, 0.60);
    assert_eq!(events(&c.tick().await), ["resolved low_disk_space[5]"]);
}

#[tokio::test]
async fn low_disk_space_works_without_prometheus() {
    let mut c = Cluster::start().await;
    c.sim.set_prometheus(Availability::Error(503));
    c.sim.set_available_fraction(1, 0.05);
    let mut opened = events(&c.tick().await);
    opened.sort();
    assert_eq!(
        opened,
        ["opened low_disk_space[1]", "opened prometheus_unreachable"]
    );
}

#[tokio::test]
async fn high_latency_fires_only_after_its_pending_period() {
    let pending = Duration::from_millis(400);
    let config = immediate_timings().timing(
        "high_latency",
        Timing {
            pending,
            keep_firing: Duration::ZERO,
        },
    );
    let mut c = Cluster::start_with(config).await;
    c.sim.set_p99(1, Some(Duration::from_millis(900)));
    let r = c.tick().await;
    assert!(r.events.is_empty(), "pending: {:?}", r.events);
    assert_eq!(r.pending.len(), 1);
    assert!(r.pending[0].violation.message.contains("900 ms"));

    tokio::time::sleep(pending).await;
    let r = c.tick().await;
    assert_eq!(events(&r), ["opened high_latency[1]"]);
    assert_eq!(r.firing[0].violation.severity, Severity::Warning);

    c.sim.set_p99(1, Some(Duration::from_millis(20)));
    assert_eq!(events(&c.tick().await), ["resolved high_latency[1]"]);
}

#[tokio::test]
async fn a_brief_latency_spike_opens_nothing() {
    let config = immediate_timings().timing(
        "high_latency",
        Timing {
            pending: Duration::from_secs(60),
            keep_firing: Duration::ZERO,
        },
    );
    let mut c = Cluster::start_with(config).await;
    c.sim.set_p99(4, Some(Duration::from_secs(3)));
    assert!(c.tick().await.events.is_empty());
    c.sim.set_p99(4, Some(Duration::from_millis(15)));
    assert!(c.tick().await.events.is_empty());
    assert!(c.open().is_empty());
}

#[tokio::test]
async fn a_failed_pd_member_opens_pd_unhealthy_and_quorum_loss_escalates() {
    let mut c = Cluster::start().await;
    c.sim.set_member_health("pd3", false);
    assert_eq!(events(&c.tick().await), ["opened pd_unhealthy[pd3]"]);
    c.sim.set_member_health("pd1", false);
    assert_eq!(
        events(&c.tick().await),
        [
            "opened pd_unhealthy[pd1]",
            "escalated pd_unhealthy[pd3] from warning to critical"
        ]
    );
    c.sim.set_member_health("pd1", true);
    c.sim.set_member_health("pd3", true);
    assert_eq!(
        events(&c.tick().await),
        ["resolved pd_unhealthy[pd1]", "resolved pd_unhealthy[pd3]"]
    );
}

#[tokio::test]
async fn pd_without_a_leader_opens_pd_unhealthy_for_pd_as_a_whole() {
    let mut c = Cluster::start().await;
    c.sim.update(|s| s.leader = None);
    let r = c.tick().await;
    assert_eq!(events(&r), ["opened pd_unhealthy"]);
    assert_eq!(r.firing[0].violation.severity, Severity::Critical);
    c.sim.update(|s| s.leader = Some("pd1".into()));
    assert_eq!(events(&c.tick().await), ["resolved pd_unhealthy"]);
}

#[tokio::test]
async fn leader_imbalance_opens_and_resolves() {
    let mut c = Cluster::start().await;
    c.sim.set_leader_count(1, 40);
    c.sim.set_leader_count(4, 1);
    c.sim.set_leader_count(5, 1);
    let r = c.tick().await;
    assert_eq!(
        events(&r),
        [
            "opened leader_imbalance[1]",
            "opened leader_imbalance[4]",
            "opened leader_imbalance[5]"
        ]
    );
    for id in [1, 4, 5] {
        c.sim.set_leader_count(id, 14);
    }
    assert_eq!(events(&c.tick().await).len(), 3);
    assert!(c.open().is_empty());
}

#[tokio::test]
async fn unreachable_pd_is_subject_unreachable_and_resolves_nothing_blind() {
    let mut c = Cluster::start().await;
    c.sim.set_store_state(4, "Disconnected");
    c.sim.set_available_fraction(5, 0.05);
    c.tick().await;
    assert_eq!(c.open(), ["low_disk_space[5]", "store_down[4]"]);

    // PD stops answering, and meanwhile the store recovers: nothing can be seen of it.
    c.sim.set_pd(Availability::Error(503));
    c.sim.set_store_state(4, "Up");
    c.sim.set_available_fraction(5, 0.5);
    for _ in 0..3 {
        let r = c.tick().await;
        let error = r.observation_error.as_deref().unwrap_or_default();
        assert!(
            error.starts_with("PD unreachable: http://127.0.0.1:"),
            "{error}"
        );
        assert!(
            r.events
                .iter()
                .all(|e| !matches!(e, operator_core::Event::Resolved { .. })),
            "nothing resolves while PD cannot be read: {:?}",
            r.events
        );
    }
    assert_eq!(
        c.open(),
        ["low_disk_space[5]", "store_down[4]", "subject_unreachable"]
    );

    // PD answers again: the recovery is seen and everything resolves.
    c.sim.set_pd(Availability::Up);
    let mut resolved = events(&c.tick().await);
    resolved.sort();
    assert_eq!(
        resolved,
        [
            "resolved low_disk_space[5]",
            "resolved store_down[4]",
            "resolved subject_unreachable"
        ]
    );
}

#[tokio::test]
async fn hanging_pd_is_bounded_by_the_request_timeout() {
    let mut c = Cluster::start().await;
    c.sim.set_pd(Availability::Hang);
    let started = std::time::Instant::now();
    let r = c.tick().await;
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(
        r.observation_error
            .as_deref()
            .unwrap_or_default()
            .ends_with("timed out"),
        "{:?}",
        r.observation_error
    );
    assert_eq!(c.open(), ["subject_unreachable"]);
}

#[tokio::test]
async fn prometheus_outage_keeps_latency_tickets_open_until_it_is_seen_again() {
    let mut c = Cluster::start().await;
    c.sim.set_p99(1, Some(Duration::from_millis(900)));
    assert_eq!(events(&c.tick().await), ["opened high_latency[1]"]);

    c.sim.set_prometheus(Availability::Hang);
    c.sim.set_p99(1, Some(Duration::from_millis(10)));
    let r = c.tick().await;
    assert_eq!(events(&r), ["opened prometheus_unreachable"]);
    let latency = r
        .firing
        .iter()
        .find(|a| a.violation.invariant == "high_latency")
        .expect("still firing");
    assert!(latency.observed, "judged on the last known value");
    assert!(
        latency.violation.message.contains("last known value"),
        "{}",
        latency.violation.message
    );

    c.sim.set_prometheus(Availability::Up);
    let mut resolved = events(&c.tick().await);
    resolved.sort();
    assert_eq!(
        resolved,
        [
            "resolved high_latency[1]",
            "resolved prometheus_unreachable"
        ]
    );
}

#[tokio::test]
async fn membership_api_outage_keeps_member_tickets_open() {
    let mut c = Cluster::start().await;
    c.sim.set_member_health("pd2", false);
    assert_eq!(events(&c.tick().await), ["opened pd_unhealthy[pd2]"]);

    c.sim.set_membership_api(Availability::Error(500));
    c.sim.set_member_health("pd2", true);
    let r = c.tick().await;
    assert_eq!(events(&r), ["opened pd_unhealthy"], "PD as a whole");
    assert_eq!(c.open(), ["pd_unhealthy", "pd_unhealthy[pd2]"]);

    c.sim.set_membership_api(Availability::Up);
    let mut resolved = events(&c.tick().await);
    resolved.sort();
    assert_eq!(
        resolved,
        ["resolved pd_unhealthy", "resolved pd_unhealthy[pd2]"]
    );
}

#[tokio::test]
async fn an_unreachable_pd_endpoint_is_reported_while_another_answers() {
    let mut c = Cluster::start().await;
    let subject_config =
        support::config(&c.sim).pd_endpoints(["http://127.0.0.1:1".to_owned(), c.sim.pd_url()]);
    let subject = operator_tikv::TikvSubject::new(subject_config).unwrap();
    let mut monitor = operator_core::MonitorLoop::new(
        subject,
        operator_tikv::TikvChecker::default(),
        std::sync::Arc::clone(&c.store),
        immediate_timings(),
    )
    .unwrap();
    let r = monitor.tick().await.unwrap();
    assert_eq!(events(&r), ["opened pd_unhealthy[http://127.0.0.1:1]"]);
    assert!(r.observation_error.is_none());
    // The same cluster through the healthy endpoint alone shows nothing wrong.
    assert!(c.tick().await.firing.is_empty());
}

#[tokio::test]
async fn a_monitor_restarted_during_a_prometheus_outage_resolves_no_latency_ticket() {
    let mut c = Cluster::start().await;
    c.sim.set_p99(1, Some(Duration::from_millis(900)));
    assert_eq!(events(&c.tick().await), ["opened high_latency[1]"]);
    c.sim.set_prometheus(Availability::Error(500));
    // A new monitor on the same tickets, as after a restart: it has no last known latency.
    let subject = operator_tikv::TikvSubject::new(support::config(&c.sim)).unwrap();
    let mut monitor = operator_core::MonitorLoop::new(
        subject,
        operator_tikv::TikvChecker::default(),
        std::sync::Arc::clone(&c.store),
        support::immediate_timings(),
    )
    .unwrap();
    for _ in 0..3 {
        let r = monitor.tick().await.unwrap();
        assert!(
            !events(&r).contains(&"resolved high_latency[1]".to_owned()),
            "{:?}",
            events(&r)
        );
    }
    assert!(c.open().contains(&"high_latency[1]".to_owned()));
}
