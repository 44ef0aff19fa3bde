//! Generators of requests to the node: well-formed HTTP with hostile content (percent-encoded
//! bytes in paths and queries, odd header values, every kind of body), and plain garbage.

use proptest::prelude::*;

use crate::raw_http::{percent_encode, request};

/// A well-formed HTTP/1.1 request with hostile content.
#[derive(Debug, Clone)]
pub struct Case {
    /// The method token.
    pub method: Vec<u8>,
    /// The request target (path and query), percent-encoded.
    pub target: String,
    /// Headers, possibly repeated.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Case {
    /// The request as sent.
    pub fn bytes(&self) -> Vec<u8> {
        request(
            &self.method,
            self.target.as_bytes(),
            &self.headers,
            &self.body,
        )
    }
}

const PATHS: &[&str] = &[
    "/v1/check",
    "/api/request",
    "/v1/policies",
    "/v1/counters",
    "/v1/node",
    "/v1/nodes",
    "/healthz",
    "/readyz",
    "/metrics",
    "/v1/forward-auth",
];

fn method() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"])
            .prop_map(|m| m.as_bytes().to_vec()),
        1 => "[A-Z]{1,12}".prop_map(String::into_bytes),
    ]
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9_-]{1,70}",
        prop::collection::vec(any::<u8>(), 0..40).prop_map(|b| percent_encode(&b)),
        Just("default".to_owned()),
        Just("%FF%FE".to_owned()),
        Just("%C0%AF".to_owned()),
        Just("..%2F..".to_owned()),
    ]
}

fn path() -> impl Strategy<Value = String> {
    let base = prop::sample::select(PATHS.to_vec()).prop_map(str::to_owned);
    prop_oneof![
        3 => base.clone(),
        2 => segment().prop_map(|s| format!("/v1/policies/{s}")),
        2 => segment().prop_map(|s| format!("/v1/counters/{s}")),
        1 => (base, segment()).prop_map(|(b, s)| format!("{b}/{s}")),
        1 => segment().prop_map(|s| format!("/{s}")),
        1 => Just("//v1//check".to_owned()),
    ]
}

fn query() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..20).prop_map(|b| percent_encode(&b)),
        prop::sample::select(vec![
            "0",
            "-1",
            "1",
            "1000",
            "1001",
            "18446744073709551616",
            "abc",
            ""
        ])
        .prop_map(str::to_owned),
    ];
    let pair = (
        prop::sample::select(vec!["prefix", "cursor", "count", "key", "x"]),
        value,
    )
        .prop_map(|(k, v)| format!("{k}={v}"));
    prop::option::of(prop::collection::vec(pair, 0..4))
        .prop_map(|q| q.map_or_else(String::new, |q| format!("?{}", q.join("&"))))
}

/// A header value httparse accepts: visible ASCII, spaces, tabs and obs-text bytes.
fn header_value(token: &'static str) -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![0x20u8..0x7f, 0x80u8..=0xff, Just(b'\t')];
    prop_oneof![
        2 => "[ -~]{0,80}".prop_map(String::into_bytes),
        2 => prop::collection::vec(byte, 0..80),
        1 => "[ -~]{500,600}".prop_map(String::into_bytes),
        2 => prop::sample::select(vec![
            "Bearer ".to_owned(),
            format!("Bearer {token}"),
            format!("bearer {token}"),
            format!("Bearer  {token}"),
            format!("Bearer {token} "),
            "Basic dXNlcjpwYXNz".to_owned(),
            "for=192.0.2.60;proto=http;by=203.0.113.43".to_owned(),
            "for=\"[2001:db8:cafe::17]:4711\", for=unknown".to_owned(),
            "for=;;;,,,=\"".to_owned(),
            "1.2.3.4, 10.0.0.1, ::1, not-an-ip, 999.999.999.999".to_owned(),
            ",,,".to_owned(),
            "application/json; charset=utf-8".to_owned(),
            "text/plain".to_owned(),
            "multipart/form-data; boundary=x".to_owned(),
            "sk-live-0123456789".to_owned(),
            "hot".to_owned(),
            "hot".to_owned(),
        ])
        .prop_map(String::into_bytes),
    ]
}

fn headers(token: &'static str) -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    let name = prop::sample::select(vec![
        "X-API-Key",
        "X-Forwarded-For",
        "Forwarded",
        "Authorization",
        "Content-Type",
        "X-Real-IP",
    ]);
    prop::collection::vec((name.prop_map(str::to_owned), header_value(token)), 0..6)
}

/// Any JSON value, a few levels deep.
fn json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        ".{0,30}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("key".to_owned()),
                    Just("cost".to_owned()),
                    Just("match".to_owned()),
                    Just("windows".to_owned()),
                    "[a-z_]{1,8}"
                ],
                inner,
                0..5
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// The `cost` of a check body, as JSON text: valid, out of range, or not an integer at all.
fn cost_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u64>().prop_map(|c| c.to_string()),
        any::<i64>().prop_map(|c| c.to_string()),
        prop::sample::select(vec![
            "0",
            "1",
            "50",
            "100",
            "-1",
            "1.5",
            "1e3",
            "1e400",
            "-0",
            "NaN",
            "Infinity",
            "-Infinity",
            "18446744073709551616",
            "99999999999999999999999999",
            "\"1\"",
            "null",
            "true",
            "[]",
            "{}",
            "0x10",
            "01",
        ])
        .prop_map(str::to_owned),
    ]
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    let key = prop_oneof![
        any::<String>().prop_map(|k| serde_json::Value::from(k).to_string()),
        "[ -~]{505,520}".prop_map(|k| serde_json::Value::from(k).to_string()),
        prop::sample::select(vec![
            "\"hot\"",
            "\"hot\"",
            "42",
            "null",
            "[]",
            "\"\"",
            "\"a\\u0000b\"",
            "\"\\ud800\""
        ])
        .prop_map(str::to_owned),
    ];
    let check = (key, prop::option::of(cost_text())).prop_map(|(k, c)| {
        let cost = c.map_or_else(String::new, |c| format!(", \"cost\": {c}"));
        format!("{{\"key\": {k}{cost}}}").into_bytes()
    });
    let window = (cost_text(), cost_text())
        .prop_map(|(l, w)| format!("{{\"limit\": {l}, \"window_ms\": {w}}}"));
    let policy = (
        prop::option::of(any::<String>()),
        prop::collection::vec(window, 0..10),
    )
        .prop_map(|(m, ws)| {
            let m = m.map_or_else(String::new, |m| {
                format!("\"match\": {}, ", serde_json::Value::from(m))
            });
            format!("{{{m}\"windows\": [{}]}}", ws.join(", ")).into_bytes()
        });
    prop_oneof![
        1 => Just(Vec::new()),
        3 => check,
        2 => policy,
        2 => json().prop_map(|v| v.to_string().into_bytes()),
        1 => (1usize..6000).prop_map(|n| format!("{}{}", "[".repeat(n), "]".repeat(n)).into_bytes()),
        1 => (1usize..3000).prop_map(|n| format!("{}1{}", "{\"a\":".repeat(n), "}".repeat(n)).into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..2000),
    ]
}

/// A method with a path it serves.
fn endpoint() -> impl Strategy<Value = (Vec<u8>, String)> {
    let on =
        |m: &'static str, p: BoxedStrategy<String>| p.prop_map(move |p| (m.as_bytes().to_vec(), p));
    let fixed = |p: &'static str| Just(p.to_owned()).boxed();
    prop_oneof![
        3 => on("POST", fixed("/v1/check")),
        3 => on("GET", fixed("/api/request")),
        1 => on("GET", fixed("/v1/counters")),
        1 => on("PUT", segment().prop_map(|s| format!("/v1/policies/{s}")).boxed()),
        1 => on("GET", segment().prop_map(|s| format!("/v1/policies/{s}")).boxed()),
        1 => on("DELETE", segment().prop_map(|s| format!("/v1/policies/{s}")).boxed()),
        1 => on("DELETE", segment().prop_map(|s| format!("/v1/counters/{s}")).boxed()),
        4 => (method(), path()),
    ]
}

/// Well-formed requests; `token` is the admin token some of them carry. One in ten is a plain
/// decision of the key `hot`, so that denials occur too.
pub fn well_formed(token: &'static str) -> impl Strategy<Value = Case> {
    let any_case = (endpoint(), query(), headers(token), body()).prop_map(
        |((method, path), query, headers, body)| Case {
            method,
            target: format!("{path}{query}"),
            headers,
            body,
        },
    );
    let hot = Case {
        method: b"POST".to_vec(),
        target: "/v1/check".to_owned(),
        headers: vec![("Content-Type".to_owned(), b"application/json".to_vec())],
        body: br#"{"key": "hot"}"#.to_vec(),
    };
    prop_oneof![9 => any_case, 1 => Just(hot)]
}

/// Bytes that are barely (or not at all) HTTP: control bytes, invalid UTF-8 and stray CR/LF in
/// the method, target and headers.
pub fn garbage() -> impl Strategy<Value = Vec<u8>> {
    let bytes = |max| prop::collection::vec(any::<u8>(), 0..max);
    let target = prop_oneof![
        bytes(60),
        bytes(60).prop_map(|b| [b"/v1/policies/".to_vec(), b].concat()),
        bytes(60).prop_map(|b| [b"/v1/counters/".to_vec(), b].concat()),
        bytes(60).prop_map(|b| [b"/api/request?".to_vec(), b].concat()),
    ];
    let header = (
        prop::sample::select(vec![
            "X-API-Key",
            "X-Forwarded-For",
            "Forwarded",
            "Authorization",
        ]),
        bytes(60),
    )
        .prop_map(|(n, v)| (n.to_owned(), v));
    prop_oneof![
        1 => bytes(300),
        3 => (bytes(10), target, prop::collection::vec(header, 0..4), bytes(100))
            .prop_map(|(m, t, h, b)| request(&m, &t, &h, &b)),
        2 => (prop::sample::select(vec!["GET", "POST"]), bytes(60))
            .prop_map(|(m, v)| request(m.as_bytes(), b"/api/request", &[("X-API-Key".into(), v)], b"")),
    ]
}
