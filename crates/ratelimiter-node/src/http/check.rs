//! The decision endpoints: `POST /v1/check` and the protected `GET /api/request`.
//!
//! Both decide on the [visible identifier](super::identity): an `api:` key is fingerprinted
//! first, so no API key reaches Redis, a metric, a log line or an answer.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ratelimiter_schema::keys::validate_user_key;
use ratelimiter_schema::{CheckRequest, CheckResponse, ErrorCode};

use super::client_addr::client_addr;
use super::error::ApiError;
use super::headers::rate_limit_headers;
use super::identity::{api_key_identifier, visible_identifier};
use super::trace_context::{TraceParent, parent_of};
use crate::decide::Decision;
use crate::node::Node;

/// `POST /v1/check`: 200 when allowed, 429 when denied, both with a [`CheckResponse`].
pub(super) async fn check(
    State(node): State<Arc<Node>>,
    TraceParent(parent): TraceParent,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(body_rejection)?;
    let request: CheckRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(ErrorCode::BadRequest, format!("invalid JSON body: {e}"))
    })?;
    validate_user_key(&request.key)
        .map_err(|e| ApiError::bad_request(ErrorCode::InvalidKey, e.to_string()))?;
    let key = visible_identifier(node.config.identifier_secret_bytes(), &request.key);
    let decision = node
        .decide_traced(&key, request.cost, parent.as_ref())
        .await?;
    let status = if decision.outcome.allowed {
        StatusCode::OK
    } else {
        StatusCode::TOO_MANY_REQUESTS
    };
    Ok(respond(status, &decision, &check_body(&node, &decision)))
}

/// `GET /api/request`: an endpoint behind the limiter, keyed by `api:<fingerprint of
/// X-API-Key>` or, without the header, `ip:<client address>` (the peer, or what trusted proxies
/// say: [`client_addr`]). 200 `{"status": "ok", "node"}`, or 429 like `/v1/check`.
pub(super) async fn api_request(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
) -> Result<Response, ApiError> {
    let key = request_identifier(
        &node,
        &headers,
        peer.map(|Extension(ConnectInfo(a))| a.ip()),
    )?;
    // Abuse screening (crate::abuse): a blocked client gets 429 client_blocked, whatever the key.
    if let Some(Extension(ConnectInfo(peer))) = peer {
        let client = client_addr(peer.ip(), &headers, &node.config.trusted_proxies);
        if let Some(blocked) = node.screen_client(client, &key).await {
            return Ok(blocked.into_response());
        }
    }
    let parent = parent_of(&node, &headers);
    let decision = node.decide_traced(&key, None, parent.as_ref()).await?;
    if decision.outcome.allowed {
        let body = serde_json::json!({"status": "ok", "node": node.config.node_id});
        Ok(respond(StatusCode::OK, &decision, &body))
    } else {
        Ok(respond(
            StatusCode::TOO_MANY_REQUESTS,
            &decision,
            &check_body(&node, &decision),
        ))
    }
}

/// The identifier a protected request is limited by: `api:<fingerprint>` with `X-API-Key`, else
/// `ip:<client address>`.
///
/// # Errors
/// 400 `invalid_key` for an `X-API-Key` that is empty, not visible ASCII or too long.
pub(crate) fn request_identifier(
    node: &Node,
    headers: &HeaderMap,
    peer: Option<IpAddr>,
) -> Result<String, ApiError> {
    identifier_by_header(node, headers, peer, "X-API-Key")
}

/// [`request_identifier`] keyed by the header `name` instead of `X-API-Key` (forward-auth's
/// `--forward-auth-header`): its value fingerprinted as an API key, else the client address.
///
/// # Errors
/// 400 `invalid_key` for a value that is empty, not visible ASCII or too long.
pub(super) fn identifier_by_header(
    node: &Node,
    headers: &HeaderMap,
    peer: Option<IpAddr>,
    name: &str,
) -> Result<String, ApiError> {
    let Some(value) = headers.get(name) else {
        // Without a peer (a router driven in process, not over a socket) there is no address.
        return Ok(peer.map_or_else(
            || "ip:unknown".to_owned(),
            |peer| {
                format!(
                    "ip:{}",
                    client_addr(peer, headers, &node.config.trusted_proxies)
                )
            },
        ));
    };
    let value = value.to_str().map_err(|_| {
        ApiError::bad_request(
            ErrorCode::InvalidKey,
            format!("{name} must be visible ASCII"),
        )
    })?;
    if value.is_empty() {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidKey,
            format!("{name} is empty"),
        ));
    }
    // The limit on the raw key's length holds as before fingerprinting made every key short.
    validate_user_key(&format!("api:{value}"))
        .map_err(|e| ApiError::bad_request(ErrorCode::InvalidKey, e.to_string()))?;
    Ok(api_key_identifier(
        node.config.identifier_secret_bytes(),
        value,
    ))
}

pub(super) fn check_body(node: &Node, d: &Decision) -> CheckResponse {
    d.check_response(&node.config.node_id)
}

pub(super) fn respond(
    status: StatusCode,
    decision: &Decision,
    body: &impl serde::Serialize,
) -> Response {
    // Serializing plain structs cannot fail; an empty body would be the only consequence.
    // A check answer is about 200 bytes: one allocation, no regrowth.
    let mut json = Vec::with_capacity(256);
    if serde_json::to_writer(&mut json, body).is_err() {
        json.clear();
    }
    let mut response = (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        json,
    )
        .into_response();
    let headers = response.headers_mut();
    for (name, value) in rate_limit_headers(decision) {
        // From the `String` itself: no copy.
        if let Ok(value) = HeaderValue::try_from(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    response
}

pub(super) fn body_rejection(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            code: ErrorCode::PayloadTooLarge,
            detail: rejection.body_text(),
        }
    } else {
        ApiError::bad_request(ErrorCode::BadRequest, rejection.body_text())
    }
}
