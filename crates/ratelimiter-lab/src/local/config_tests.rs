//! [`StackConfig`] of a sentinel stack: its ports, endpoints, validation and port moves.

use crate::local::config::StackConfig;

#[test]
fn a_sentinel_stack_lists_its_sentinels_and_moves_its_runs_together() {
    let c = StackConfig {
        redis_sentinel: true,
        ..StackConfig::default()
    };
    c.validate().unwrap();
    assert_eq!(c.redis_ports(), [6379, 6380, 26379, 26380, 26381]);
    let e = c.endpoints();
    assert_eq!(
        e.redis_url,
        "redis://127.0.0.1:26379,redis://127.0.0.1:26380,redis://127.0.0.1:26381"
    );
    assert_eq!(e.sentinel_master.as_deref(), Some("ratelimit"));
    assert!(!e.redis_is_cluster());
    let both = StackConfig {
        redis_cluster: true,
        ..c.clone()
    };
    assert!(both.validate().is_err());
    let bad = StackConfig {
        sentinel_master: "a b".into(),
        ..c.clone()
    };
    assert!(bad.validate().unwrap_err().to_string().contains("a b"));
    let clash = StackConfig {
        node_ports: vec![26380],
        ..c.clone()
    };
    assert!(clash.validate().unwrap_err().to_string().contains("26380"));

    // A taken sentinel port moves the sentinels' whole run.
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = held.local_addr().unwrap().port();
    let redis = crate::ports::free_after(taken.saturating_add(100), &[]).unwrap();
    let c = StackConfig {
        redis_port: redis,
        sentinel_port: taken.saturating_sub(1),
        node_ports: vec![],
        ..c
    };
    let (moved, moves) = c.clone().with_free_ports();
    assert!(
        moves
            .iter()
            .any(|m| m.component == "sentinel-1..sentinel-3"),
        "{moves:?}"
    );
    assert!(moved.sentinel_port > taken, "{moved:?}");
    assert!(
        c.instead("sentinel-2", taken)
            .starts_with("pass --sentinel-port "),
        "{}",
        c.instead("sentinel-2", taken)
    );
}
