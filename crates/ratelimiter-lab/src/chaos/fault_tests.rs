//! [`Fault`] parsing and printing.

use super::*;

#[test]
fn faults_parse_from_words_and_print_back() {
    let p = |w: &[&str]| Fault::parse(w).map(|f| f.to_string());
    assert_eq!(p(&["kill-node", "2"]).unwrap(), "kill-node 2");
    assert_eq!(p(&["pause-redis", "3s"]).unwrap(), "pause-redis 3s");
    assert_eq!(p(&["pause-redis", "250ms"]).unwrap(), "pause-redis 250ms");
    assert_eq!(p(&["stuck-keys", "20"]).unwrap(), "stuck-keys 20");
    assert_eq!(p(&["script-flush"]).unwrap(), "script-flush");
    assert_eq!(
        Fault::parse_undo(&["stuck-keys"]).unwrap().to_string(),
        "stuck-keys"
    );
    assert!(Fault::parse(&["stuck-keys"]).is_err());
    for bad in [
        &["kill-node"][..],
        &["kill-node", "0"],
        &["kill-redis", "now"],
        &["pause-redis", "soon"],
        &["stuck-keys", "0"],
        &["flushall"],
        &[],
    ] {
        assert!(Fault::parse(bad).is_err(), "{bad:?}");
    }
    assert!(
        Fault::parse(&["nope"])
            .unwrap_err()
            .to_string()
            .contains("kill-redis")
    );
    assert_eq!(
        p(&["partition-node", "2", "3s"]).unwrap(),
        "partition-node 2 3s"
    );
    assert_eq!(
        p(&["partition-redis", "1500ms"]).unwrap(),
        "partition-redis 1.5s"
    );
    for bad in [
        &["partition-node", "2"][..],
        &["partition-node", "0", "3s"],
        &["partition-node", "2", "soon"],
        &["partition-redis"],
    ] {
        assert!(Fault::parse(bad).is_err(), "{bad:?}");
    }
    let undo = |w: &[&str]| Fault::parse_undo(w).map(|f| f.to_string());
    assert_eq!(undo(&["partition-node", "2"]).unwrap(), "partition-node 2");
    assert_eq!(undo(&["partition-redis"]).unwrap(), "partition-redis");
    assert_eq!(undo(&["pause-redis"]).unwrap(), "pause-redis");
    assert_eq!(Fault::catalog().len(), 17);
    assert_eq!(p(&["naive-mode"]).unwrap(), "naive-mode");
    assert!(Fault::parse(&["naive-mode", "2"]).is_err());
    assert_eq!(
        p(&["kill-redis-primary", "2"]).unwrap(),
        "kill-redis-primary 2"
    );
    assert_eq!(undo(&["failover", "1"]).unwrap(), "failover 1");
    assert!(Fault::parse(&["failover"]).is_err());

    assert_eq!(
        p(&["key-prefix-mismatch", "2"]).unwrap(),
        "key-prefix-mismatch 2"
    );
    assert_eq!(p(&["clock-drift", "2", "5s"]).unwrap(), "clock-drift 2 5s");
    assert_eq!(
        Fault::parse(&["clock-drift", "3", "-1500ms"]).unwrap(),
        Fault::ClockDrift(3, -1500)
    );
    assert_eq!(
        p(&["clock-drift", "3", "-1500ms"]).unwrap(),
        "clock-drift 3 -1.5s"
    );
    assert_eq!(p(&["eviction"]).unwrap(), "eviction");
    assert_eq!(
        Fault::parse(&["slow-redis", "200ms", "10s"]).unwrap(),
        Fault::SlowRedis(Duration::from_millis(200), Duration::from_secs(10))
    );
    assert_eq!(
        p(&["slow-redis", "200ms", "10s"]).unwrap(),
        "slow-redis 200ms 10s"
    );
    assert_eq!(undo(&["clock-drift", "2"]).unwrap(), "clock-drift 2");
    assert_eq!(undo(&["slow-redis"]).unwrap(), "slow-redis");
    for bad in [
        &["key-prefix-mismatch"][..],
        &["clock-drift", "2"],
        &["clock-drift", "2", "soon"],
        &["clock-drift", "0", "5s"],
        &["eviction", "now"],
        &["slow-redis", "200ms"],
        &["slow-redis", "3s", "10s"],
        &["slow-redis", "200ms", "forever"],
    ] {
        assert!(Fault::parse(bad).is_err(), "{bad:?}");
    }
    let err = Fault::parse(&["slow-redis", "1"]).unwrap_err().to_string();
    assert!(err.contains("LATENCY DURATION"), "{err}");
}
