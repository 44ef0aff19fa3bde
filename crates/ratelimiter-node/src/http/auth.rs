//! The admin token on the management API: with `--admin-token`, every `/v1/*` path except the
//! decision paths ([`OPEN_PATHS`]) needs `Authorization: Bearer <token>`, reads included;
//! `/healthz`, `/readyz`, `/metrics` and `/api/request` are outside `/v1/` and stay open.
//!
//! A missing or wrong token answers 401 with `WWW-Authenticate: Bearer`; too many wrong tokens
//! from one client address ([`super::auth_throttle`]) answer 429 `too_many_auth_failures` with
//! `Retry-After` for a while. The client address is the one [`super::client_addr`] finds, so
//! behind a trusted proxy each client is throttled on its own.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ratelimiter_schema::ErrorCode;
use tokio::time::Instant;

use super::auth_throttle::Throttle;
use super::client_addr::client_addr;
use super::error::ApiError;
use crate::node::Node;

/// The `/v1/*` paths anyone may call: the decision paths.
pub const OPEN_PATHS: &[&str] = &["/v1/check", "/v1/forward-auth"];

/// Whether `path` needs the admin token (when one is set).
pub fn is_management(path: &str) -> bool {
    (path == "/v1" || path.starts_with("/v1/")) && !OPEN_PATHS.contains(&path)
}

/// The throttle of wrong tokens, with its counters. One per [`super::app`].
#[derive(Debug)]
pub struct AuthGate {
    throttle: Mutex<Throttle>,
    epoch: Instant,
    /// Requests refused for a missing or wrong token.
    pub failures: AtomicU64,
    /// Requests refused because their address made too many wrong tries.
    pub throttled: AtomicU64,
}

impl Default for AuthGate {
    fn default() -> Self {
        Self {
            throttle: Mutex::default(),
            epoch: Instant::now(),
            failures: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
        }
    }
}

impl AuthGate {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Throttle> {
        // The table is consistent after every call (no panics inside), so a poisoned lock is fine.
        self.throttle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Prometheus lines of the gate's counters, labelled with `node` (already escaped).
    pub fn render(&self, node: &str) -> String {
        let blocked = self.table().blocked(self.now_ms());
        format!(
            "# HELP ratelimiter_auth_failures_total Management requests refused for a missing or wrong admin token.\n\
             # TYPE ratelimiter_auth_failures_total counter\n\
             ratelimiter_auth_failures_total{{node=\"{node}\"}} {}\n\
             # HELP ratelimiter_auth_throttled_total Management requests refused (429) after too many wrong tokens from their address.\n\
             # TYPE ratelimiter_auth_throttled_total counter\n\
             ratelimiter_auth_throttled_total{{node=\"{node}\"}} {}\n\
             # HELP ratelimiter_auth_blocked_addresses Client addresses refused now for too many wrong tokens.\n\
             # TYPE ratelimiter_auth_blocked_addresses gauge\n\
             ratelimiter_auth_blocked_addresses{{node=\"{node}\"}} {blocked}\n",
            self.failures.load(Relaxed),
            self.throttled.load(Relaxed),
        )
    }
}

/// Middleware state: the node (its token and trusted proxies) and the gate.
#[derive(Debug, Clone)]
pub struct AuthState {
    pub(super) node: Arc<Node>,
    pub(super) gate: Arc<AuthGate>,
}

/// Lets a request through, or answers 401 / 429 (see the module doc).
pub(super) async fn require_token(
    State(state): State<AuthState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(token) = state.node.config.admin_token.as_deref() else {
        return next.run(request).await;
    };
    if !is_management(request.uri().path()) {
        return next.run(request).await;
    }
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    let client = client_addr(peer, request.headers(), &state.node.config.trusted_proxies);
    let gate = &state.gate;
    let now = gate.now_ms();
    if let Err(wait_ms) = gate.table().check(client, now) {
        gate.throttled.fetch_add(1, Relaxed);
        return too_many_failures(wait_ms);
    }
    if bearer_matches(request.headers(), token) {
        return next.run(request).await;
    }
    gate.failures.fetch_add(1, Relaxed);
    if gate.table().record_failure(client, now) {
        tracing::warn!(client = %client, "too many wrong admin tokens: address refused for a while");
    }
    ApiError::unauthorized().into_response()
}

/// Whether `Authorization` is `Bearer <token>` (scheme case-insensitive), compared in constant
/// time.
fn bearer_matches(headers: &HeaderMap, token: &str) -> bool {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some((scheme, given)) = value.split_once(' ') else {
        return false;
    };
    scheme.eq_ignore_ascii_case("bearer")
        && constant_time_eq(given.trim().as_bytes(), token.as_bytes())
}

/// Equality whose time depends only on the lengths, not on where the bytes differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn too_many_failures(wait_ms: u64) -> Response {
    let secs = wait_ms.div_ceil(1000).max(1);
    let mut response = ApiError {
        status: StatusCode::TOO_MANY_REQUESTS,
        code: ErrorCode::TooManyAuthFailures,
        detail: format!("too many wrong admin tokens from this address; retry in {secs} s"),
    }
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_paths_need_the_token() {
        for p in [
            "/v1/node",
            "/v1/nodes",
            "/v1/policies",
            "/v1/policies/x",
            "/v1/counters",
            "/v1/counters/a:b",
            "/v1/anything",
            "/v1",
            "/v1/check/",
            "/v1/abuse",
        ] {
            assert!(is_management(p), "{p}");
        }
        for p in [
            "/v1/check",
            "/v1/forward-auth",
            "/api/request",
            "/healthz",
            "/readyz",
            "/metrics",
            "/",
            "/v10/x",
        ] {
            assert!(!is_management(p), "{p}");
        }
    }

    #[test]
    fn bearer_parsing() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
            m
        };
        assert!(bearer_matches(&h("Bearer s3cret"), "s3cret"));
        assert!(bearer_matches(&h("bearer s3cret"), "s3cret"));
        assert!(!bearer_matches(&h("Bearer s3cre"), "s3cret"));
        assert!(!bearer_matches(&h("Bearer s3cret2"), "s3cret"));
        assert!(!bearer_matches(&h("Basic s3cret"), "s3cret"));
        assert!(!bearer_matches(&h("s3cret"), "s3cret"));
        assert!(!bearer_matches(&HeaderMap::new(), "s3cret"));
    }
}
