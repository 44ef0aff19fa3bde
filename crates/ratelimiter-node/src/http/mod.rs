//! The HTTP API (axum): routes, and [`serve`] to run them with the background loops.
//!
//! | method and path | what |
//! |-----------------|------|
//! | `POST /v1/check` | decide `{"key", "cost"}`: 200 allowed, 429 denied |
//! | `GET /api/request` | a protected endpoint keyed by `X-API-Key` (or the client address) |
//! | `GET /v1/forward-auth` | a gateway's subrequest (Traefik, nginx): 200 or the deny status ([`forward_auth`]) |
//! | `GET /v1/policies`, `GET/PUT/DELETE /v1/policies/{name}` | policies |
//! | `GET /v1/counters?prefix=&cursor=&count=`, `DELETE /v1/counters/{key}` | counters |
//! | `GET /v1/nodes`, `GET /v1/node` | the registry, and this node |
//! | `GET /healthz`, `GET /readyz`, `GET /metrics` | liveness, readiness, Prometheus |
//!
//! With `--admin-token`, every `/v1/*` path but the decision paths needs the token ([`auth`]).
//! Clients are told apart by [`client_addr`] (the peer, or what trusted proxies say), and
//! `api:` identifiers are fingerprinted ([`identity`]) before anything stores or shows them.
//! When decisions are traced, the decision paths read the caller's `traceparent`
//! (`trace_context`) so that each decision's span joins the caller's trace.

mod admin;
pub mod auth;
mod auth_throttle;
mod check;
pub mod client_addr;
mod error;
mod forward_auth;
pub mod headers;
pub mod identity;
mod status;
mod trace_context;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::Instrument;

pub use client_addr::client_addr;
pub use error::ApiError;

use crate::background;
use crate::node::Node;

/// The router of every endpoint, with `node` as state.
pub fn app(node: Arc<Node>) -> Router {
    let body_limit = node.config.max_body_bytes;
    let gate = Arc::new(auth::AuthGate::default());
    let auth_state = auth::AuthState {
        node: node.clone(),
        gate: gate.clone(),
    };
    let router = Router::new()
        .route("/v1/check", post(check::check))
        .route("/api/request", get(check::api_request))
        .route("/v1/forward-auth", get(forward_auth::forward_auth))
        .route("/v1/policies", get(admin::list_policies))
        .route(
            "/v1/policies/{name}",
            get(admin::get_policy)
                .put(admin::put_policy)
                .delete(admin::delete_policy),
        )
        .route("/v1/counters", get(admin::list_counters))
        .route(
            "/v1/counters/{*key}",
            axum::routing::delete(admin::reset_counter),
        )
        .route("/v1/nodes", get(status::nodes))
        .route("/v1/node", get(status::node))
        .route("/healthz", get(status::healthz))
        .route("/readyz", get(status::readyz))
        .route("/metrics", get(status::metrics))
        .fallback(status::not_found)
        .method_not_allowed_fallback(status::method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit));
    // Without --admin-token the gate lets everything through: leave it out, so a decision
    // does not pay for a middleware that does nothing (a boxed future and a cloned service).
    let router = if node.config.admin_token.is_some() {
        router.layer(axum::middleware::from_fn_with_state(
            auth_state,
            auth::require_token,
        ))
    } else {
        router
    };
    router.layer(axum::Extension(gate)).with_state(node)
}

/// Serves `node` on `listener` until `shutdown` completes, with its policy and heartbeat loops.
/// In-flight requests finish; then the loops stop and the node deregisters from the registry.
///
/// # Errors
/// When the listener fails.
pub async fn serve(
    listener: TcpListener,
    node: Arc<Node>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let span = tracing::info_span!("serve", node = %node.config.node_id);
    serve_in_span(listener, node, shutdown)
        .instrument(span)
        .await
}

async fn serve_in_span(
    listener: TcpListener,
    node: Arc<Node>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let local = listener.local_addr()?;
    let _ = node.advertise.set(
        node.config
            .advertise
            .clone()
            .unwrap_or_else(|| local.to_string()),
    );
    if let Some(flaw) = node.config.limiter_mode.flaw() {
        let mode = node.config.limiter_mode;
        tracing::warn!(
            limiter_mode = %mode,
            "--limiter-mode {mode} is NOT exact ({flaw}): limits will be exceeded under \
             concurrency; a teaching mode, never for production (use atomic)"
        );
    }
    if node.config.identifier_secret.is_none() {
        tracing::warn!(
            "no --identifier-secret: API keys are fingerprinted without a key, so a weak key \
             could be recovered by guessing; set RATELIMITER_IDENTIFIER_SECRET on every node"
        );
    }
    if !node.config.trusted_proxies.is_empty() {
        let proxies: Vec<String> = node
            .config
            .trusted_proxies
            .iter()
            .map(ToString::to_string)
            .collect();
        tracing::info!(trusted_proxies = %proxies.join(","), "forwarding headers believed from these peers only");
    }
    // First sync before serving, bounded by the Redis timeout: a node starts even if Redis is down.
    if let Err(error) = node.sync_policies().await {
        tracing::warn!(%error, "redis not reachable at start; serving the seed policies by failure mode");
    }
    node.load_envoy_files();
    if let Err(error) = node.sync_rls_policies().await {
        tracing::warn!(%error, "envoy config policies not written to redis yet; will retry");
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let loops = [
        tokio::spawn(background::policy_loop(node.clone(), stop_rx.clone())),
        tokio::spawn(background::heartbeat_loop(node.clone(), stop_rx.clone())),
        tokio::spawn(crate::rls::watch_envoy_configs(node.clone(), stop_rx)),
    ];
    tracing::info!(addr = %local, "serving");
    let served = axum::serve(
        listener,
        app(node.clone()).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    let _ = stop_tx.send(true);
    for task in loops {
        let _ = task.await;
    }
    node.return_leases().await;
    match node.store.deregister(&node.config.node_id).await {
        Ok(()) => tracing::info!("deregistered"),
        Err(error) => tracing::warn!(%error, "could not deregister"),
    }
    served
}
