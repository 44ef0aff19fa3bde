//! The identifier secret and the clock skew in `counter_drift`, and a node refusing the
//! monitor's token in `node_down`.

use operator_core::{InvariantChecker, Severity, Unknown};

use super::{check, info_mut, names};
use crate::checker::sample::{healthy, history};
use crate::checker::*;
use crate::error::ErrorKind;
use crate::observation::SkewSource;

#[test]
fn nodes_under_different_identifier_secrets_are_drift() {
    // (digests of the three nodes, fires)
    let cases: [([Option<&str>; 3], bool); 4] = [
        ([None, None, None], false),
        ([Some("aa"), Some("aa"), Some("aa")], false),
        ([Some("aa"), Some("bb"), Some("aa")], true),
        ([Some("aa"), Some("aa"), None], true),
    ];
    for (digests, fires) in cases {
        let mut o = healthy(0);
        for (i, d) in digests.iter().enumerate() {
            info_mut(&mut o, i).identifier_secret_digest = d.map(str::to_owned);
        }
        let v = check(&o, vec![]);
        if !fires {
            assert!(v.is_empty(), "{digests:?}: {v:?}");
            continue;
        }
        assert_eq!(
            names(&v),
            ["counter_drift[identifier_secret]"],
            "{digests:?}"
        );
        assert_eq!(v[0].severity, Severity::Critical);
        assert_eq!(v[0].evidence["cause"], SECRET_MISMATCH);
        assert_eq!(
            v[0].evidence["identifier_secrets"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        assert!(
            v[0].message.contains("one client's limit is split"),
            "{}",
            v[0].message
        );
    }
    // A node that does not answer is not a secret of its own.
    let mut o = healthy(0);
    info_mut(&mut o, 0).identifier_secret_digest = Some("aa".into());
    info_mut(&mut o, 1).identifier_secret_digest = Some("aa".into());
    o.nodes[2].info = None;
    assert!(
        check(&o, vec![])
            .iter()
            .all(|v| v.invariant != COUNTER_DRIFT)
    );
}

#[test]
fn the_skew_the_node_measured_is_what_fires_and_is_said() {
    let mut o = healthy(0);
    o.nodes[0].clock_skew_ms = Some(2_000);
    o.nodes[0].clock_skew_source = Some(SkewSource::Node);
    let v = check(&o, vec![]);
    assert_eq!(names(&v), ["counter_drift[127.0.0.1:8001]"]);
    assert!(
        v[0].message.contains("measured by the node"),
        "{}",
        v[0].message
    );
    assert_eq!(v[0].evidence["skew_source"], "node");
    // Without Redis TIME for the monitor, a skew the node measured still decides.
    let mut o = healthy(0);
    o.redis.time_ms = None;
    o.nodes[1].clock_skew_ms = None;
    let unknown = RateLimiterChecker::default().unknown(&o, &history(vec![]));
    assert!(unknown.contains(&Unknown::entity(COUNTER_DRIFT, "127.0.0.1:8002")));
    assert!(!unknown.contains(&Unknown::entity(COUNTER_DRIFT, "127.0.0.1:8001")));
}

#[test]
fn a_node_refusing_the_monitors_token_is_a_warning_that_says_what_to_pass() {
    let mut o = healthy(0);
    o.nodes[0].info = None;
    o.nodes[0].error =
        Some("/v1/node: node requires a token: pass --node-token or OPERATOR_NODE_TOKEN".into());
    o.nodes[0].error_kind = Some(ErrorKind::Unauthorized);
    let v = check(&o, vec![]);
    assert_eq!(names(&v), ["node_down[127.0.0.1:8001]"]);
    assert_eq!(v[0].severity, Severity::Warning);
    assert!(
        v[0].message.contains("pass --node-token"),
        "{}",
        v[0].message
    );
}

#[test]
fn tickets_from_api_key_counters_carry_the_fingerprint_never_the_key() {
    use ratelimiter_schema::{fingerprint, keys};

    use crate::observation::{KeyKind, KeyScan, OverAdmitted, StuckKey};

    let secret_key = "api:sk-live-0123456789";
    // What a fingerprinting node writes for that key.
    let user_key = fingerprint::fingerprint_identifier(Some(b"the-secret"), secret_key);
    let counter = keys::counter_key("ratelimit:", &user_key, "default", 1_000);
    assert_eq!(KeyKind::of("ratelimit:", &counter), KeyKind::Counter);
    // The user key the scan reads back from the counter's name.
    let read_back = keys::parse_counter_key("ratelimit:", &counter)
        .unwrap()
        .user_key;
    let mut o = healthy(0);
    o.redis.keys = Some(KeyScan {
        stuck: vec![StuckKey {
            key: counter,
            kind: KeyKind::Counter,
        }],
        stuck_total: 1,
        over_admitted: vec![OverAdmitted {
            key: read_back,
            policy: "default".into(),
            window_ms: 1_000,
            count: 101,
            limit: 100,
        }],
        ..KeyScan::default()
    });
    let v = check(&o, vec![]);
    assert_eq!(
        names(&v),
        ["no_stuck_keys", "over_admission[policy:default]"]
    );
    for v in &v {
        let shown = format!("{} {}", v.message, v.evidence);
        assert!(!shown.contains("sk-live"), "{shown}");
        assert!(shown.contains("api:fp-"), "{shown}");
    }
}
