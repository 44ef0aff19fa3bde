//! The layer in an axum app on a real Redis (seed 002 turn 11's end-to-end test): 1,000
//! concurrent users over 10 endpoints, keyed `user:{id}:endpoint:{path}` with the JWT subject as
//! `id`, each endpoint with its own per-user limit in envoyproxy/ratelimit's YAML; every user
//! gets exactly each endpoint's limit. Bad, expired and missing tokens are 401 JSON and never
//! reach the app.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::StatusCode;
use ratelimiter_tower::{Extractor, JwtVerifier, Limiter};
use test_support::RedisServer;

use support::{SECRET, app, call, config, json, token, write};

const USERS: usize = 1_000;
const ENDPOINTS: usize = 10;

/// Endpoint `i`'s limit per user and hour: 1, 2 or 3.
fn limit(i: usize) -> u64 {
    1 + (i % 3) as u64
}

fn limits_yaml() -> String {
    let mut yaml = String::from("domain: shop\ndescriptors:\n  - key: user\n    descriptors:\n");
    for i in 0..ENDPOINTS {
        yaml.push_str(&format!(
            "      - key: endpoint\n        value: /e{i}\n        rate_limit: {{ unit: hour, requests_per_unit: {} }}\n",
            limit(i)
        ));
    }
    yaml
}

async fn limiter(redis: &RedisServer, dir: &tempfile::TempDir) -> Arc<Limiter> {
    let file = write(dir.path(), "shop.yaml", &limits_yaml());
    // Exactness is what this test measures, not timeouts: 20,000 requests at once on a loaded
    // debug build can outlast the default 500 ms, and a timed-out call is decided by the
    // failure mode (a share of the limit), which would read as under-admission here.
    let config = ratelimiter_node::Config {
        redis_timeout: std::time::Duration::from_secs(10),
        ..config(&redis.url())
    };
    Limiter::builder(config)
        .envoy_config(file)
        .jwt(JwtVerifier::hs256(SECRET).unwrap())
        .var("id", Extractor::JwtSubject)
        .key("user:{id}:endpoint:{path}")
        .build()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_users_get_exactly_each_endpoints_limit() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let reached = Arc::new(AtomicU64::new(0));
    let app = app(limiter(&redis, &dir).await, ENDPOINTS, reached.clone());
    let mut users = Vec::with_capacity(USERS);
    for u in 0..USERS {
        let app = app.clone();
        let bearer = format!("Bearer {}", token(&format!("u{u}"), SECRET));
        users.push(tokio::spawn(async move {
            // All of a user's requests at once: limit + 1 on every endpoint.
            let requests = (0..ENDPOINTS).flat_map(|e| (0..=limit(e)).map(move |_| e));
            let answers = futures::future::join_all(requests.map(|e| {
                let (app, bearer) = (app.clone(), bearer.clone());
                async move {
                    let r = call(&app, &format!("/e{e}"), &[("authorization", &bearer)]).await;
                    (e, r.status(), r.headers().contains_key("ratelimit-policy"))
                }
            }))
            .await;
            let mut allowed = [0u64; ENDPOINTS];
            for (e, status, has_headers) in answers {
                assert!(has_headers, "every answer has the RateLimit headers");
                match status {
                    StatusCode::OK => allowed[e] += 1,
                    StatusCode::TOO_MANY_REQUESTS => {}
                    other => panic!("unexpected {other}"),
                }
            }
            allowed
        }));
    }
    let mut wrong = BTreeMap::new();
    for (u, task) in users.into_iter().enumerate() {
        let allowed = task.await.unwrap();
        for (e, got) in allowed.iter().enumerate() {
            if *got != limit(e) {
                wrong.insert((u, e), *got);
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "(user, endpoint) → allowed, not the limit: {wrong:?}"
    );
    let expected: u64 = (0..ENDPOINTS).map(limit).sum::<u64>() * USERS as u64;
    assert_eq!(
        reached.load(Ordering::Relaxed),
        expected,
        "only allowed requests reach the app"
    );

    // The answers are the node's: 429 with /v1/check's body and the RateLimit headers.
    let bearer = format!("Bearer {}", token("u0", SECRET));
    let r = call(&app, "/e2", &[("authorization", &bearer)]).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let h = r.headers().clone();
    assert_eq!(h["x-ratelimit-limit"], "3");
    assert_eq!(h["x-ratelimit-remaining"], "0");
    assert!(h.contains_key("retry-after"));
    let policy = h["ratelimit-policy"].to_str().unwrap().to_owned();
    assert!(
        policy.starts_with("\"rls-shop-") && policy.ends_with("/1h\";q=3;w=3600"),
        "{policy}"
    );
    let body = json(r).await;
    assert_eq!(body["allowed"], false);
    assert_eq!(body["limit"], 3);
    assert_eq!(body["window"], "1h");
    assert_eq!(body["node"], "tower-test");
    // A user on an endpoint without a limit: passes, with no RateLimit headers.
    let app_more = support::app(limiter(&redis, &dir).await, ENDPOINTS + 1, reached.clone());
    let r = call(
        &app_more,
        &format!("/e{ENDPOINTS}"),
        &[("authorization", &bearer)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(!r.headers().contains_key("ratelimit-policy"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_expired_and_missing_tokens_are_401_json_and_never_reach_the_app() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let reached = Arc::new(AtomicU64::new(0));
    let app = app(limiter(&redis, &dir).await, ENDPOINTS, reached.clone());
    let forged = token("u1", b"another-secret");
    let mut tampered = token("u1", SECRET);
    tampered.truncate(tampered.len() - 2);
    let expired = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &serde_json::json!({"sub": "u1", "exp": 1_000_000}),
        &jsonwebtoken::EncodingKey::from_secret(SECRET).unwrap(),
    )
    .unwrap();
    for (what, auth) in [
        ("bad signature", Some(format!("Bearer {forged}"))),
        ("tampered", Some(format!("Bearer {tampered}"))),
        ("expired", Some(format!("Bearer {expired}"))),
        ("not a JWT", Some("Bearer nope".to_owned())),
        ("missing", None),
    ] {
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("authorization", a.as_str())).collect();
        let r = call(&app, "/e0", &headers).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{what}");
        assert!(
            r.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Bearer")
        );
        assert_eq!(r.headers()["content-type"], "application/json");
        let body = json(r).await;
        assert_eq!(body["error"], "unauthorized", "{what}: {body}");
        assert!(
            body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{what}: {body}"
        );
    }
    assert_eq!(
        reached.load(Ordering::Relaxed),
        0,
        "no refused request reached the app"
    );
    let good = format!("Bearer {}", token("u1", SECRET));
    assert_eq!(
        call(&app, "/e0", &[("authorization", &good)])
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(reached.load(Ordering::Relaxed), 1);
}
