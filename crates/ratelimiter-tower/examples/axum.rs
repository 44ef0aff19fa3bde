//! An axum service with the rate-limit layer: per user and endpoint (the JWT subject and the
//! path) and per client address, limits in `examples/limits.yaml` (reloaded when it changes),
//! counters in Redis shared with any `ratelimiter-node` on the same Redis.
//!
//! ```sh
//! redis-server --port 6379 --save '' &
//! cargo run -p ratelimiter-tower --example axum            # prints a token for user alice
//! curl -si localhost:3000/orders -H "Authorization: Bearer $TOKEN"
//! ```
//!
//! Environment: `REDIS_URL` (default `redis://127.0.0.1:6379`), `LISTEN` (default
//! `127.0.0.1:3000`), `LIMITS` (default this directory's `limits.yaml`), `JWT_SECRET` (the HS256
//! signing secret; default a demo value, printed tokens are signed with it).

#![allow(clippy::print_stdout)] // an example prints where to connect and a token to use

use std::net::SocketAddr;
use std::path::PathBuf;

use axum::Router;
use axum::routing::get;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ratelimiter_tower::{JwtVerifier, Limiter, RateLimitLayer};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let env = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    let secret = env("JWT_SECRET", "example-secret-change-me");
    let limits = std::env::var_os("LIMITS").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/limits.yaml"),
        PathBuf::from,
    );
    let config = ratelimiter_node::Config {
        redis_url: env("REDIS_URL", "redis://127.0.0.1:6379"),
        node_id: "axum-example".into(),
        ..ratelimiter_node::Config::default()
    };
    let limiter = Limiter::builder(config)
        .envoy_config(limits)
        .jwt(JwtVerifier::hs256(secret.as_bytes())?)
        .key("user:{sub}:endpoint:{path}")
        .key("remote_address:{ip}")
        .build()
        .await?;
    tokio::spawn(limiter.clone().run(std::future::pending()));

    let app = Router::new()
        .route("/orders", get(|| async { "your orders\n" }))
        .route("/search", get(|| async { "search results\n" }))
        .layer(RateLimitLayer::new(limiter));

    let listen: SocketAddr = env("LISTEN", "127.0.0.1:3000").parse()?;
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        + 3600;
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &serde_json::json!({"sub": "alice", "exp": exp}),
        &EncodingKey::from_secret(secret.as_bytes())?,
    )?;
    println!("listening on http://{listen}; a token for alice, valid one hour:\nTOKEN={token}");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
