//! Rate limiting inside a Rust service: a tower [`Layer`](tower::Layer) deciding every request
//! in process with the `ratelimiter-node` engine, so an embedded service and a fleet of nodes
//! enforce the same exact limits in one Redis.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use ratelimiter_tower::{JwtVerifier, Limiter, RateLimitLayer};
//!
//! let config = ratelimiter_node::Config {
//!     redis_url: "redis://127.0.0.1:6379".into(),
//!     ..ratelimiter_node::Config::default()
//! };
//! let limiter = Limiter::builder(config)
//!     .envoy_config("limits.yaml") // envoyproxy/ratelimit's format; reloaded on change
//!     .jwt(JwtVerifier::hs256(b"the signing secret")?)
//!     .key("user:{sub}:endpoint:{path}") // per user and endpoint
//!     .key("remote_address:{ip}") // and per client address
//!     .build()
//!     .await?;
//! tokio::spawn(limiter.clone().run(std::future::pending()));
//! let app = axum::Router::<()>::new().layer(RateLimitLayer::new(limiter));
//! # let _ = app; Ok(()) }
//! ```
//!
//! # Layout
//! - [`key`]: where a key's parts come from ([`Extractor`]: header, API key fingerprint, client
//!   address behind trusted proxies, JWT subject, path, method), bearer tokens
//!   ([`JwtVerifier`], via `jsonwebtoken`), and composite templates ([`KeyTemplate`],
//!   `user:{sub}:endpoint:{path}`) that turn a request into an Envoy descriptor.
//! - [`limiter`]: [`Limiter`] and its [`LimiterBuilder`]: the node
//!   ([`ratelimiter_node::Node::should_rate_limit`], the same Lua and failure modes as the
//!   node's gRPC service), the domain's YAML files and their hot reload ([`Limiter::run`]).
//! - [`layer`]: [`RateLimitLayer`] and [`RateLimitService`].
//! - [`response`]: the node's RateLimit headers, its 429 body (`/v1/check`'s JSON) and error
//!   bodies.
//! - [`error`]: [`ConfigError`] (build time) and [`KeyError`] (per request: 400 or 401).
//!
//! # How it fails
//! A header the key needs that is empty or not ASCII: 400 `invalid_key`. A template using
//! `{sub}` and a missing, expired or badly signed token: 401 `unauthorized`. Redis down: the
//! node's failure mode (`open` allows, `local` limits in process, `closed` answers 503
//! `redis_unavailable`). A configuration file that breaks on reload: the last good one stays.

pub mod error;
pub mod key;
pub mod layer;
pub mod limiter;
pub mod response;

pub use error::{ConfigError, KeyError};
pub use key::{Extractor, JwtVerifier, KeyTemplate};
pub use layer::{RateLimitLayer, RateLimitService};
pub use limiter::{Limiter, LimiterBuilder, Verdict};
