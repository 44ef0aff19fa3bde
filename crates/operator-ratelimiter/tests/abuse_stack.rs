//! `abuse_detected` on a real node: a client that uses a honeypot key through `/api/request` is
//! blocked by the node, and the operator's next observation opens one warning for that node, with
//! the blocked client as a fingerprint and neither the key nor the address in clear.

use operator_core::{History, InvariantChecker, Severity, Subject};
use operator_ratelimiter::{RateLimiterChecker, RateLimiterConfig, RateLimiterSubject};
use test_support::http::request_with;
use test_support::node::Readiness;
use test_support::{NodeProcess, RedisServer};

const HONEYPOT: &str = "sk-honeypot-7f3a9c";

#[tokio::test(flavor = "multi_thread")]
async fn a_honeypot_hit_opens_one_abuse_ticket_for_its_node() {
    let redis = RedisServer::start();
    let node = NodeProcess::builder(&redis.url(), "node-1")
        .env("RATELIMITER_HONEYPOT_KEYS", HONEYPOT)
        .wait_for(Readiness::Ready)
        .start();
    let subject = RateLimiterSubject::new(RateLimiterConfig {
        redis_url: redis.url(),
        nodes: vec![node.url()],
        ..RateLimiterConfig::default()
    })
    .unwrap();
    let checker = RateLimiterChecker::default();
    let abuse = |vs: Vec<operator_core::Violation>| -> Vec<operator_core::Violation> {
        vs.into_iter()
            .filter(|v| v.invariant == "abuse_detected")
            .collect()
    };

    let healthy = subject.observe().await.unwrap();
    assert!(
        abuse(checker.check(&healthy, &History::new(10))).is_empty(),
        "nothing before any abuse"
    );

    let (status, _) = request_with(
        node.port,
        "GET",
        "/api/request",
        None,
        &[("X-API-Key", HONEYPOT)],
    )
    .unwrap();
    assert_eq!(status, 429, "a honeypot key blocks its client at once");
    let (status, body) = request_with(
        node.port,
        "GET",
        "/api/request",
        None,
        &[("X-API-Key", "sk-innocent")],
    )
    .unwrap();
    assert_eq!(status, 429, "blocked whatever the key: {body}");
    assert!(body.contains("client_blocked"), "{body}");

    let o = subject.observe().await.unwrap();
    let vs = abuse(checker.check(&o, &History::new(10)));
    assert_eq!(vs.len(), 1, "one ticket for the node: {vs:?}");
    let v = &vs[0];
    assert_eq!(v.severity, Severity::Warning);
    assert!(v.entity.is_some(), "entity is the node: {v:?}");
    let evidence = v.evidence.to_string();
    assert!(
        evidence.contains("fp-"),
        "the client as a fingerprint: {evidence}"
    );
    // The client (127.0.0.1, as is the node here) appears only as a fingerprint among the
    // blocked clients; neither key appears at all.
    let clients = v.evidence.to_string();
    assert!(!clients.contains("\"client\":\"127.0.0.1"), "{clients}");
    for clear in [HONEYPOT, "sk-innocent"] {
        assert!(!evidence.contains(clear), "{clear} in clear: {evidence}");
        assert!(
            !v.message.contains(clear),
            "{clear} in clear: {}",
            v.message
        );
    }
}
