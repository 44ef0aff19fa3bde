//! `GET /v1/forward-auth`: the limiter as a gateway's authorization subrequest (Traefik
//! `ForwardAuth`, nginx `auth_request`; configurations in `docs/GATEWAYS.md`).
//!
//! The gateway asks before it forwards a request; the node decides it exactly as
//! `GET /api/request` would: keyed by the header `--forward-auth-header` (default `X-API-Key`,
//! fingerprinted as an API key), else by the client address (the peer, or what trusted proxies
//! say), screened for abuse first. The answer is 200 with the RateLimit headers (Traefik's
//! `authResponseHeaders` copies them into the upstream request), or `--forward-auth-deny-status`
//! (default 429) with the same headers and `/v1/check`'s JSON body, which Traefik hands to the
//! client as is. nginx passes only 2xx, 401 and 403 from a subrequest, so its configuration
//! denies with 403 and turns it back into 429 with `error_page 403 =429`.
//!
//! Bad input (an empty or non-ASCII key header) is a 400 JSON error like on `/api/request`, and
//! a `closed` node without Redis answers 503: gateways treat both as failures of the check.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Extension;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::check::{check_body, identifier_by_header, respond};
use super::client_addr::client_addr;
use super::error::ApiError;
use super::trace_context::parent_of;
use crate::node::Node;

/// `GET /v1/forward-auth`: 200 when the request may pass, the deny status when not, both with
/// the RateLimit headers and a [`ratelimiter_schema::CheckResponse`] body.
pub(super) async fn forward_auth(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
) -> Result<Response, ApiError> {
    let deny = deny_status(node.config.forward_auth_deny_status);
    let peer = peer.map(|Extension(ConnectInfo(a))| a.ip());
    let key = identifier_by_header(&node, &headers, peer, &node.config.forward_auth_header)?;
    // Abuse screening as on /api/request; a blocked client is denied with the gateway's status.
    if let Some(peer) = peer {
        let client = client_addr(peer, &headers, &node.config.trusted_proxies);
        if let Some(blocked) = node.screen_client(client, &key).await {
            let mut response = blocked.into_response();
            *response.status_mut() = deny;
            return Ok(response);
        }
    }
    let parent = parent_of(&node, &headers);
    let decision = node.decide_traced(&key, None, parent.as_ref()).await?;
    let status = if decision.outcome.allowed {
        StatusCode::OK
    } else {
        deny
    };
    Ok(respond(status, &decision, &check_body(&node, &decision)))
}

/// The configured deny status; 429 for a code that is not one (the config validates 400..=599).
fn deny_status(code: u16) -> StatusCode {
    StatusCode::from_u16(code)
        .ok()
        .filter(|s| s.is_client_error() || s.is_server_error())
        .unwrap_or(StatusCode::TOO_MANY_REQUESTS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_status_is_the_configured_error_status_or_429() {
        assert_eq!(deny_status(403), StatusCode::FORBIDDEN);
        assert_eq!(deny_status(429), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(deny_status(503), StatusCode::SERVICE_UNAVAILABLE);
        for not_a_denial in [0, 99, 200, 302, 1000] {
            assert_eq!(deny_status(not_a_denial), StatusCode::TOO_MANY_REQUESTS);
        }
    }
}
