//! The operator's node token against a real node started with an admin token (passed by
//! environment variable, as secrets are): with the right token the node is fully observed; with
//! none or a wrong one, a node that guards its management reads is reported as refusing the
//! monitor, with what to pass, never as a generic failure.

use operator_core::{History, InvariantChecker, Subject};
use operator_ratelimiter::{ErrorKind, RateLimiterChecker, RateLimiterConfig, RateLimiterSubject};
use test_support::http;
use test_support::node::Readiness;
use test_support::{NodeProcess, RedisServer};

const TOKEN: &str = "t0ken-for-the-test";

fn subject(redis: &RedisServer, node: &NodeProcess, token: Option<&str>) -> RateLimiterSubject {
    RateLimiterSubject::new(RateLimiterConfig {
        redis_url: redis.url(),
        nodes: vec![node.url()],
        node_token: token.map(str::to_owned),
        ..RateLimiterConfig::default()
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_token_is_sent_and_a_refusal_says_what_to_pass() {
    let redis = RedisServer::start();
    let node = NodeProcess::builder(&redis.url(), "node-1")
        .env("RATELIMITER_ADMIN_TOKEN", TOKEN)
        .wait_for(Readiness::Ready)
        .start();

    let o = subject(&redis, &node, Some(TOKEN)).observe().await.unwrap();
    let view = &o.nodes[0];
    assert!(view.info.is_some(), "observed with the token: {view:?}");
    assert_eq!((view.error.as_deref(), view.error_kind), (None, None));

    // The node guards its management reads: without the token, 401.
    let (status, _) = http::get(node.port, "/v1/node").unwrap();
    assert_eq!(status, 401, "GET /v1/node without a token");
    for (token, says) in [
        (
            None,
            "node requires a token: pass --node-token or OPERATOR_NODE_TOKEN",
        ),
        (Some("wrong-token"), "node refused the token"),
    ] {
        let o = subject(&redis, &node, token).observe().await.unwrap();
        let view = &o.nodes[0];
        assert!(view.reachable && view.info.is_none(), "{view:?}");
        assert_eq!(view.error_kind, Some(ErrorKind::Unauthorized), "{view:?}");
        let error = view.error.as_deref().unwrap_or_default();
        assert!(error.contains(says), "{error}");
        assert!(!error.contains(TOKEN), "the token is never shown");
        let vs = RateLimiterChecker::default().check(&o, &History::new(10));
        let down: Vec<_> = vs.iter().filter(|v| v.invariant == "node_down").collect();
        assert_eq!(down.len(), 1, "{vs:?}");
        assert!(down[0].message.contains(says), "{}", down[0].message);
        assert!(!down[0].evidence.to_string().contains(TOKEN));
    }
}
