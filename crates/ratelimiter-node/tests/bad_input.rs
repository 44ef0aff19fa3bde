//! Bad input gets a 4xx with a JSON `{"error", "detail"}` body, never a 500; management calls
//! need the admin token when one is set.

mod support;

use support::{NodeApi, NodeProcess, client};
use test_support::RedisServer;

async fn send(client: &reqwest::Client, req: reqwest::RequestBuilder) -> (u16, serde_json::Value) {
    let _ = client;
    let r = req.send().await.expect("request");
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("status {status}: body is not JSON: {text:?}"));
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_gets_a_4xx_with_a_json_error() {
    let redis = RedisServer::start();
    let node = NodeProcess::start(&redis.url(), "a", &[]);
    let c = client();
    let check = || {
        c.post(node.url_for("/v1/check"))
            .header("content-type", "application/json")
    };
    let cases: Vec<(&str, reqwest::RequestBuilder, u16, &str)> = vec![
        (
            "malformed JSON",
            check().body("{\"key\": "),
            400,
            "bad_request",
        ),
        ("not an object", check().body("[1,2]"), 400, "bad_request"),
        ("empty body", check().body(""), 400, "bad_request"),
        (
            "missing key",
            check().body("{\"cost\": 1}"),
            400,
            "bad_request",
        ),
        (
            "key not a string",
            check().body("{\"key\": 42}"),
            400,
            "bad_request",
        ),
        (
            "empty key",
            check().body("{\"key\": \"\"}"),
            400,
            "invalid_key",
        ),
        (
            "key over 512 bytes",
            check().body(serde_json::json!({"key": "k".repeat(513)}).to_string()),
            400,
            "invalid_key",
        ),
        (
            "cost 0",
            check().body("{\"key\": \"a\", \"cost\": 0}"),
            400,
            "invalid_cost",
        ),
        (
            "cost over the limit",
            check().body("{\"key\": \"a\", \"cost\": 101}"),
            400,
            "invalid_cost",
        ),
        (
            "negative cost",
            check().body("{\"key\": \"a\", \"cost\": -1}"),
            400,
            "bad_request",
        ),
        (
            "unknown field",
            check().body("{\"key\": \"a\", \"weight\": 1}"),
            400,
            "bad_request",
        ),
        (
            "oversized body",
            check().body(serde_json::json!({"key": "k".repeat(64 * 1024)}).to_string()),
            413,
            "payload_too_large",
        ),
        (
            "unknown policy (get)",
            c.get(node.url_for("/v1/policies/nope")),
            404,
            "unknown_policy",
        ),
        (
            "unknown policy (delete)",
            c.delete(node.url_for("/v1/policies/nope")),
            404,
            "unknown_policy",
        ),
        (
            "deleting default",
            c.delete(node.url_for("/v1/policies/default")),
            400,
            "invalid_policy",
        ),
        (
            "invalid policy name",
            c.put(node.url_for("/v1/policies/bad%20name"))
                .body("{\"match\": \"*\", \"windows\": [{\"limit\": 1, \"window_ms\": 1}]}"),
            400,
            "invalid_policy",
        ),
        (
            "policy without windows",
            c.put(node.url_for("/v1/policies/p"))
                .body("{\"match\": \"*\", \"windows\": []}"),
            400,
            "invalid_policy",
        ),
        (
            "policy limit 0",
            c.put(node.url_for("/v1/policies/p"))
                .body("{\"match\": \"*\", \"windows\": [{\"limit\": 0, \"window_ms\": 1000}]}"),
            400,
            "invalid_policy",
        ),
        (
            "policy malformed",
            c.put(node.url_for("/v1/policies/p")).body("{"),
            400,
            "bad_request",
        ),
        (
            "counters bad cursor",
            c.get(node.url_for("/v1/counters?cursor=abc")),
            400,
            "bad_request",
        ),
        (
            "counters count too large",
            c.get(node.url_for("/v1/counters?count=100000")),
            400,
            "bad_request",
        ),
        (
            "empty api key",
            c.get(node.url_for("/api/request")).header("X-API-Key", ""),
            400,
            "invalid_key",
        ),
        (
            "unknown path",
            c.get(node.url_for("/v2/nothing")),
            404,
            "not_found",
        ),
        (
            "wrong method",
            c.get(node.url_for("/v1/check")),
            405,
            "method_not_allowed",
        ),
    ];
    for (what, req, want_status, want_code) in cases {
        let (status, body) = send(&c, req).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (want_status, Some(want_code)),
            "{what}: {body}"
        );
        assert!(
            body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{what}: {body}"
        );
    }
    // Keys are data, never code: Lua-looking keys are just keys.
    for key in [
        "'); redis.call('FLUSHALL') --",
        "]] .. redis.call('FLUSHALL') .. [[",
        "{}",
        "\u{0}",
    ] {
        let (status, body) = node.check(&c, key).await;
        assert_eq!(
            (status, body["allowed"].as_bool()),
            (200, Some(true)),
            "{key:?}: {body}"
        );
    }
    let (status, _) = node.get_json(&c, "/readyz").await;
    assert_eq!(
        status, 200,
        "the node still works, and redis still holds its policies"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_token_guards_every_mutation() {
    let redis = RedisServer::start();
    let node = NodeProcess::start(&redis.url(), "a", &["--admin-token", "s3cret"]);
    let c = client();
    let policy = serde_json::json!({"match": "x:*", "windows": [{"limit": 1, "window_ms": 1000}]});
    let mutations = || {
        vec![
            c.put(node.url_for("/v1/policies/x")).json(&policy),
            c.delete(node.url_for("/v1/policies/x")),
            c.delete(node.url_for("/v1/counters/user:1")),
        ]
    };
    for req in mutations() {
        assert_eq!(
            send(&c, req).await,
            (
                401,
                serde_json::json!({"error": "unauthorized", "detail": "this endpoint needs `Authorization: Bearer <admin token>`"})
            )
        );
    }
    for req in mutations() {
        let (status, _) = send(&c, req.bearer_auth("wrong")).await;
        assert_eq!(status, 401);
    }
    let (status, _) = send(
        &c,
        c.put(node.url_for("/v1/policies/x"))
            .json(&policy)
            .bearer_auth("s3cret"),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = send(
        &c,
        c.delete(node.url_for("/v1/counters/user:1"))
            .bearer_auth("s3cret"),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = send(
        &c,
        c.delete(node.url_for("/v1/policies/x"))
            .bearer_auth("s3cret"),
    )
    .await;
    assert_eq!(status, 200);
    // Reads need the token too (tests/security); decisions do not.
    assert_eq!(node.get_json(&c, "/v1/policies").await.0, 401);
    assert_eq!(node.check(&c, "user:1").await.0, 200);
}

#[test]
fn invalid_configuration_exits_with_a_clear_message_before_binding() {
    let port = test_support::free_port();
    let listen = format!("127.0.0.1:{port}");
    let cases: [(&[&str], &str); 4] = [
        (&["--redis-url", "http://nope"], "--redis-url"),
        (&["--key-prefix", "a{b"], "--key-prefix"),
        (&["--failure-mode", "sideways"], "failure"),
        (&["--redis-timeout-ms", "0"], "--redis-timeout-ms"),
    ];
    for (args, needle) in cases {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ratelimiter-node"))
            .args(["--listen", &listen])
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
    let dir = tempfile::tempdir().unwrap();
    let file = support::policies_file(&dir, "[policies.p]\nmatch = \"*\"\nwindows = []\n");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ratelimiter-node"))
        .args(["--listen", &listen, "--policies"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least one window"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_body_closes_the_connection_so_no_client_reuses_it() {
    let redis = RedisServer::start();
    let node = NodeProcess::start(&redis.url(), "a", &[]);
    let c = client();
    let big = serde_json::json!({"key": "k".repeat(64 * 1024)}).to_string();
    let r = c
        .post(node.url_for("/v1/check"))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
    assert_eq!(
        r.headers().get("connection").map(|v| v.to_str().unwrap()),
        Some("close")
    );
    // The same client goes on working.
    let r = c.get(node.url_for("/healthz")).send().await.unwrap();
    assert!(r.status().is_success());
}
