//! The layer's in-process decisions per second: an axum router with the layer, driven with
//! `oneshot` (no socket) by `CONCURRENCY` tasks for `SECONDS`, over `USERS` users (JWT subjects)
//! and 10 endpoints, each decision one Redis script call. Prints one JSON line.
//!
//! ```sh
//! redis-server --port 16390 --save '' &
//! cargo build --release -p ratelimiter-tower --example bench
//! REDIS_URL=redis://127.0.0.1:16390 target/release/examples/bench
//! ```
//!
//! Environment: `REDIS_URL` (default `redis://127.0.0.1:6379`), `CONCURRENCY` (64), `SECONDS`
//! (10), `USERS` (1000).

#![allow(clippy::print_stdout)] // the benchmark's result

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ratelimiter_tower::{JwtVerifier, Limiter, RateLimitLayer};
use tower::ServiceExt as _;

const ENDPOINTS: usize = 10;
const SECRET: &[u8] = b"bench-secret";

fn var(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (concurrency, seconds, users) = (
        var("CONCURRENCY", 64),
        var("SECONDS", 10),
        var("USERS", 1000),
    );
    let dir = tempfile::tempdir()?;
    let mut yaml = String::from("domain: bench\ndescriptors:\n  - key: user\n    descriptors:\n");
    for i in 0..ENDPOINTS {
        yaml.push_str(&format!(
            "      - key: endpoint\n        value: /e{i}\n        rate_limit: {{ unit: second, requests_per_unit: 1000000 }}\n"
        ));
    }
    let file = dir.path().join("bench.yaml");
    std::fs::write(&file, yaml)?;
    let config = ratelimiter_node::Config {
        redis_url: std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into()),
        node_id: "bench".into(),
        redis_timeout: Duration::from_millis(1000),
        ..ratelimiter_node::Config::default()
    };
    let limiter = Limiter::builder(config)
        .envoy_config(&file)
        .jwt(JwtVerifier::hs256(SECRET)?)
        .key("user:{sub}:endpoint:{path}")
        .build()
        .await?;
    let mut app = Router::new();
    for i in 0..ENDPOINTS {
        app = app.route(&format!("/e{i}"), get(|| async { "ok" }));
    }
    let app = app.layer(RateLimitLayer::new(limiter));
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        + 3600;
    let key = EncodingKey::from_secret(SECRET)?;
    let tokens: Arc<Vec<String>> = Arc::new(
        (0..users)
            .map(|u| {
                let claims = serde_json::json!({"sub": format!("u{u}"), "exp": exp});
                jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key)
                    .map(|t| format!("Bearer {t}"))
            })
            .collect::<Result<_, _>>()?,
    );
    let (ok, other) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..concurrency {
        let (app, tokens, ok, other, stop) = (
            app.clone(),
            tokens.clone(),
            ok.clone(),
            other.clone(),
            stop.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut i = t as usize;
            while !stop.load(Relaxed) {
                let request = Request::get(format!("/e{}", i % ENDPOINTS))
                    .header("authorization", &tokens[i % tokens.len()])
                    .body(Body::empty())
                    .unwrap_or_default();
                match app.clone().oneshot(request).await.map(|r| r.status()) {
                    Ok(StatusCode::OK) => ok.fetch_add(1, Relaxed),
                    _ => other.fetch_add(1, Relaxed),
                };
                i = i.wrapping_add(7919);
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Relaxed);
    for task in tasks {
        task.await?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (ok, other) = (ok.load(Relaxed), other.load(Relaxed));
    println!(
        "{}",
        serde_json::json!({
            "concurrency": concurrency,
            "seconds": elapsed,
            "users": users,
            "decisions": ok + other,
            "allowed": ok,
            "other": other,
            "decisions_per_s": ((ok + other) as f64 / elapsed).round(),
        })
    );
    Ok(())
}
