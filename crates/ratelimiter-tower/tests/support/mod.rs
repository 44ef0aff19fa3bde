//! Helpers of the layer's tests: an axum app behind the layer, tokens, YAML files.

#![allow(dead_code)] // each test file uses a different part

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response};
use axum::routing::get;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use ratelimiter_tower::{Limiter, RateLimitLayer};
use tower::ServiceExt as _;

/// The HMAC secret the tests sign tokens with (a test value).
pub const SECRET: &[u8] = b"tower-test-signing-secret";

/// An app with `endpoints` routes (`GET /e0`...) answering `ok`, counting the requests that reach
/// it, behind the layer.
pub fn app(limiter: Arc<Limiter>, endpoints: usize, reached: Arc<AtomicU64>) -> Router {
    let mut router = Router::new();
    for i in 0..endpoints {
        let reached = reached.clone();
        router = router.route(
            &format!("/e{i}"),
            get(move || {
                reached.fetch_add(1, Ordering::Relaxed);
                async { "ok" }
            }),
        );
    }
    router.layer(RateLimitLayer::new(limiter))
}

/// An HS256 token for `sub`, valid for an hour, signed with `secret`.
pub fn token(sub: &str, secret: &[u8]) -> String {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    encode(
        &Header::new(Algorithm::HS256),
        &serde_json::json!({"sub": sub, "exp": exp}),
        &EncodingKey::from_secret(secret).unwrap(),
    )
    .unwrap()
}

/// `GET path` with `headers` through `app`, in process.
pub async fn call(app: &Router, path: &str, headers: &[(&str, &str)]) -> Response<Body> {
    let mut req = Request::get(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    app.clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap()
}

/// The body of `response` as JSON (`null` when it is not).
pub async fn json(response: Response<Body>) -> serde_json::Value {
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null)
}

/// Writes `text` to `name` in `dir`.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A node configuration on `redis_url`, quiet and with a test id.
pub fn config(redis_url: &str) -> ratelimiter_node::Config {
    ratelimiter_node::Config {
        redis_url: redis_url.to_owned(),
        node_id: "tower-test".into(),
        redis_timeout: std::time::Duration::from_millis(500),
        ..ratelimiter_node::Config::default()
    }
}
