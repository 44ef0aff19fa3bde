//! The malformed-input corpus, against the real node binary: deep JSON, invalid UTF-8 in
//! bodies, headers and paths, costs that are not integers, oversized bodies, duplicate and
//! conflicting headers, `Forwarded` garbage, Bearer tokens with odd bytes. Each gets a 4xx (and,
//! past the HTTP layer, a JSON `{"error", "detail"}` with a known code), never a 5xx; the node
//! keeps serving. (`bad_input.rs` holds the first corpus.)

mod support;

use std::io::{Read, Write};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use support::{NodeApi, NodeProcess, client};
use test_support::RedisServer;

/// The admin token of the node under test (a throwaway test value).
const TOKEN: &str = "corpus-token";

async fn send(req: reqwest::RequestBuilder) -> (u16, serde_json::Value) {
    let r = req.send().await.expect("request");
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("status {status}: body is not JSON: {text:?}"));
    (status, body)
}

fn header(name: &'static str, value: &[u8]) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.append(
        HeaderName::from_static(name),
        HeaderValue::from_bytes(value).expect("a header value reqwest sends"),
    );
    h
}

fn json_body(text: impl Into<Vec<u8>>) -> reqwest::Body {
    reqwest::Body::from(text.into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_malformed_corpus_gets_4xx_json_errors() {
    let redis = RedisServer::start();
    let node = NodeProcess::start(&redis.url(), "a", &["--admin-token", TOKEN]);
    let c = client();
    let check = |body: reqwest::Body| {
        c.post(node.url_for("/v1/check"))
            .header("content-type", "application/json")
            .body(body)
    };
    let put = |name: &str, body: reqwest::Body| {
        c.put(node.url_for(&format!("/v1/policies/{name}")))
            .bearer_auth(TOKEN)
            .body(body)
    };
    let unauthenticated_put = || {
        c.put(node.url_for("/v1/policies/p"))
            .body(r#"{"match": "*", "windows": [{"limit": 1, "window_ms": 1000}]}"#)
    };
    let api = |h: HeaderMap| c.get(node.url_for("/api/request")).headers(h);
    let deep_array = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let deep_key = format!(r#"{{"key": {}"a"{}}}"#, "[".repeat(3000), "]".repeat(3000));
    let deep_policy = format!(
        r#"{{"match": "*", "windows": {}{}}}"#,
        "[".repeat(4000),
        "]".repeat(4000)
    );
    let mut two_keys = header("x-api-key", b"\xff");
    two_keys.append("x-api-key", HeaderValue::from_static("fine"));
    let cases: Vec<(&str, reqwest::RequestBuilder, u16, &str)> = vec![
        (
            "deep array",
            check(json_body(deep_array)),
            400,
            "bad_request",
        ),
        ("deep key", check(json_body(deep_key)), 400, "bad_request"),
        (
            "deep policy",
            put("p", json_body(deep_policy)),
            400,
            "bad_request",
        ),
        (
            "invalid UTF-8 in the body",
            check(json_body(&b"{\"key\": \"\xff\xfe\"}"[..])),
            400,
            "bad_request",
        ),
        (
            "lone surrogate in the key",
            check(json_body(r#"{"key": "\ud800"}"#)),
            400,
            "bad_request",
        ),
        (
            "NUL before the body",
            check(json_body(&b"\0{\"key\": \"a\"}"[..])),
            400,
            "bad_request",
        ),
        (
            "trailing garbage",
            check(json_body(r#"{"key": "a"} x"#)),
            400,
            "bad_request",
        ),
        (
            "duplicate key field",
            check(json_body(r#"{"key": "a", "key": "b"}"#)),
            400,
            "bad_request",
        ),
        (
            "cost 1.5",
            check(json_body(r#"{"key": "a", "cost": 1.5}"#)),
            400,
            "bad_request",
        ),
        (
            "cost 1e400",
            check(json_body(r#"{"key": "a", "cost": 1e400}"#)),
            400,
            "bad_request",
        ),
        (
            "cost NaN",
            check(json_body(r#"{"key": "a", "cost": NaN}"#)),
            400,
            "bad_request",
        ),
        (
            "cost Infinity",
            check(json_body(r#"{"key": "a", "cost": Infinity}"#)),
            400,
            "bad_request",
        ),
        (
            "cost as a string",
            check(json_body(r#"{"key": "a", "cost": "1"}"#)),
            400,
            "bad_request",
        ),
        (
            "cost -9223372036854775808",
            check(json_body(r#"{"key": "a", "cost": -9223372036854775808}"#)),
            400,
            "bad_request",
        ),
        (
            "cost 2^64",
            check(json_body(r#"{"key": "a", "cost": 18446744073709551616}"#)),
            400,
            "bad_request",
        ),
        (
            "cost u64::MAX",
            check(json_body(format!(
                r#"{{"key": "a", "cost": {}}}"#,
                u64::MAX
            ))),
            400,
            "invalid_cost",
        ),
        (
            "limit 2^64",
            put(
                "p",
                json_body(
                    r#"{"match": "*", "windows": [{"limit": 18446744073709551616, "window_ms": 1000}]}"#,
                ),
            ),
            400,
            "bad_request",
        ),
        (
            "limit u64::MAX",
            put(
                "p",
                json_body(format!(
                    r#"{{"match": "*", "windows": [{{"limit": {}, "window_ms": 1000}}]}}"#,
                    u64::MAX
                )),
            ),
            400,
            "invalid_policy",
        ),
        (
            "window_ms negative",
            put(
                "p",
                json_body(r#"{"match": "*", "windows": [{"limit": 1, "window_ms": -1000}]}"#),
            ),
            400,
            "bad_request",
        ),
        (
            "oversized policy",
            put(
                "p",
                json_body(format!(
                    r#"{{"match": "{}", "windows": []}}"#,
                    "*".repeat(64 * 1024)
                )),
            ),
            413,
            "payload_too_large",
        ),
        (
            "policy name not UTF-8 (get)",
            c.get(node.url_for("/v1/policies/%FF")).bearer_auth(TOKEN),
            400,
            "bad_request",
        ),
        (
            "policy name not UTF-8 (put)",
            put("%C0%AF", json_body("{}")),
            400,
            "bad_request",
        ),
        (
            "policy name not UTF-8 (delete)",
            c.delete(node.url_for("/v1/policies/%80"))
                .bearer_auth(TOKEN),
            400,
            "bad_request",
        ),
        (
            "counter key not UTF-8",
            c.delete(node.url_for("/v1/counters/%FF%FE"))
                .bearer_auth(TOKEN),
            400,
            "bad_request",
        ),
        (
            "counters count negative",
            c.get(node.url_for("/v1/counters?count=-1"))
                .bearer_auth(TOKEN),
            400,
            "bad_request",
        ),
        (
            "counters cursor 2^64",
            c.get(node.url_for("/v1/counters?cursor=18446744073709551616"))
                .bearer_auth(TOKEN),
            400,
            "bad_request",
        ),
        (
            "X-API-Key not ASCII",
            api(header("x-api-key", b"\xff\xfe")),
            400,
            "invalid_key",
        ),
        (
            "X-API-Key of 600 bytes",
            api(header("x-api-key", &[b'k'; 600])),
            400,
            "invalid_key",
        ),
        (
            "X-API-Key twice, first not ASCII",
            api(two_keys),
            400,
            "invalid_key",
        ),
        (
            "Bearer with odd bytes",
            unauthenticated_put().header(
                "authorization",
                HeaderValue::from_bytes(b"Bearer \xffcorpus-token").unwrap(),
            ),
            401,
            "unauthorized",
        ),
        (
            "Bearer without a token",
            unauthenticated_put().header("authorization", "Bearer"),
            401,
            "unauthorized",
        ),
        (
            "Bearer of 8 KiB",
            unauthenticated_put().header("authorization", format!("Bearer {}", "x".repeat(8192))),
            401,
            "unauthorized",
        ),
        (
            "Basic instead of Bearer",
            unauthenticated_put().header("authorization", "Basic Y29ycHVzLXRva2Vu"),
            401,
            "unauthorized",
        ),
    ];
    for (what, req, want_status, want_code) in cases {
        let (status, body) = send(req).await;
        let got = (status, body["error"].as_str());
        // Wrong tokens in a row may also be refused for a while, which is as good.
        let refused = want_code == "unauthorized" && got == (429, Some("too_many_auth_failures"));
        assert!(
            refused || got == (want_status, Some(want_code)),
            "{what}: {body}"
        );
        assert!(
            body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{what}: {body}"
        );
    }
    // Headers a limiter must not trust from an untrusted peer are data, never a failure.
    for (name, value) in [
        ("forwarded", &b"for=;;;,,=\"\"\""[..]),
        (
            "forwarded",
            b"for=\"[::1\", for=unknown, for=_hidden, for=300.1.1.1",
        ),
        ("forwarded", b"\xff\xfe"),
        ("x-forwarded-for", b",,, ,"),
        (
            "x-forwarded-for",
            b"1.2.3.4, 999.1.1.1, ::ffff:1.2.3.4, fe80::1%eth0, not-an-ip",
        ),
        ("x-forwarded-for", b"\xc0\xaf"),
    ] {
        let (status, body) = send(api(header(name, value))).await;
        assert_eq!(status, 200, "{name}: {value:?}: {body}");
        assert_eq!(body["status"], "ok", "{name}: {value:?}");
    }
    // A query that is not UTF-8 is decoded lossily: a prefix like any other.
    let (status, body) = send(
        c.get(node.url_for("/v1/counters?prefix=%FF"))
            .bearer_auth(TOKEN),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["counters"].is_array(), "{body}");
    let (status, _) = node.get_json(&c, "/healthz").await;
    assert_eq!(status, 200, "the node still serves");
}

/// Sends raw bytes and returns the status line's code (`None`: closed without an answer).
fn raw_status(port: u16, raw: &[u8]) -> Option<u16> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.write_all(raw).expect("write");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

#[test]
fn requests_the_http_layer_refuses_get_a_4xx_not_a_crash() {
    let redis = RedisServer::start();
    let node = NodeProcess::start(&redis.url(), "a", &[]);
    let port = node.port;
    let cases: [(&str, &[u8]); 8] = [
        ("path not UTF-8", b"GET /v1/policies/\xff\xfe HTTP/1.1\r\nHost: n\r\nConnection: close\r\n\r\n"),
        ("two Content-Lengths", b"POST /v1/check HTTP/1.1\r\nHost: n\r\nContent-Length: 3\r\nContent-Length: 12\r\nConnection: close\r\n\r\n{\"key\":\"a\"}"),
        ("Content-Length and chunked", b"POST /v1/check HTTP/1.1\r\nHost: n\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n"),
        ("negative Content-Length", b"POST /v1/check HTTP/1.1\r\nHost: n\r\nContent-Length: -1\r\nConnection: close\r\n\r\n"),
        ("NUL in a header", b"GET /api/request HTTP/1.1\r\nHost: n\r\nX-API-Key: a\0b\r\nConnection: close\r\n\r\n"),
        ("space in the header name", b"GET /api/request HTTP/1.1\r\nHost: n\r\nX API Key: a\r\nConnection: close\r\n\r\n"),
        ("no version", b"GET /healthz\r\n\r\n"),
        ("binary", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"),
    ];
    for (what, raw) in cases {
        if let Some(status) = raw_status(port, raw) {
            assert!((400..500).contains(&status), "{what}: {status}");
        }
    }
    let huge_headers = format!(
        "GET /api/request HTTP/1.1\r\nHost: n\r\n{}Connection: close\r\n\r\n",
        "X-Forwarded-For: 1.2.3.4\r\n".repeat(10_000)
    );
    if let Some(status) = raw_status(port, huge_headers.as_bytes()) {
        assert!((400..500).contains(&status), "huge headers: {status}");
    }
    assert_eq!(
        raw_status(
            port,
            b"GET /healthz HTTP/1.1\r\nHost: n\r\nConnection: close\r\n\r\n"
        ),
        Some(200),
        "the node still serves"
    );
}
