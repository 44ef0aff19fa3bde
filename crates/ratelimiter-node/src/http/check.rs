//! The decision endpoints: `POST /v1/check` and the protected `GET /api/request`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ratelimiter_schema::keys::validate_user_key;
use ratelimiter_schema::policy::window_label;
use ratelimiter_schema::{CheckRequest, CheckResponse, ErrorCode};

use super::error::ApiError;
use super::headers::rate_limit_headers;
use crate::decide::Decision;
use crate::node::Node;

/// `POST /v1/check`: 200 when allowed, 429 when denied, both with a [`CheckResponse`].
pub(super) async fn check(
    State(node): State<Arc<Node>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(body_rejection)?;
    let request: CheckRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(ErrorCode::BadRequest, format!("invalid JSON body: {e}"))
    })?;
    validate_user_key(&request.key)
        .map_err(|e| ApiError::bad_request(ErrorCode::InvalidKey, e.to_string()))?;
    let decision = node.decide(&request.key, request.cost).await?;
    let status = if decision.outcome.allowed {
        StatusCode::OK
    } else {
        StatusCode::TOO_MANY_REQUESTS
    };
    Ok(respond(status, &decision, &check_body(&node, &decision)))
}

/// `GET /api/request`: an endpoint behind the limiter, keyed by `api:<X-API-Key>` or, without
/// the header, `ip:<client address>`. 200 `{"status": "ok", "node"}`, or 429 like `/v1/check`.
pub(super) async fn api_request(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
) -> Result<Response, ApiError> {
    let key = match headers.get("x-api-key") {
        Some(v) => {
            let v = v.to_str().map_err(|_| {
                ApiError::bad_request(ErrorCode::InvalidKey, "X-API-Key must be visible ASCII")
            })?;
            format!("api:{v}")
        }
        None => format!(
            "ip:{}",
            peer.as_ref().map_or_else(
                || "unknown".to_owned(),
                |Extension(ConnectInfo(a))| a.ip().to_string()
            )
        ),
    };
    if key.len() <= 4 {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidKey,
            "X-API-Key is empty",
        ));
    }
    validate_user_key(&key)
        .map_err(|e| ApiError::bad_request(ErrorCode::InvalidKey, e.to_string()))?;
    // Abuse screening (crate::abuse): a blocked client gets 429 client_blocked, whatever the key.
    if let Some(Extension(ConnectInfo(client))) = peer
        && let Some(blocked) = node.screen_client(client.ip(), &key).await
    {
        return Ok(blocked.into_response());
    }
    let decision = node.decide(&key, None).await?;
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

fn check_body(node: &Node, d: &Decision) -> CheckResponse {
    let reported = d.reported();
    CheckResponse {
        allowed: d.outcome.allowed,
        limit: reported.window.limit,
        remaining: reported.remaining,
        reset_after_ms: reported.reset_after_ms,
        retry_after_ms: d.outcome.retry_after_ms,
        policy: d.policy.name.clone(),
        window: window_label(reported.window.window_ms),
        window_ms: reported.window.window_ms,
        node: node.config.node_id.clone(),
        degraded: d.degraded,
    }
}

fn respond(status: StatusCode, decision: &Decision, body: &impl serde::Serialize) -> Response {
    // Serializing plain structs cannot fail; an empty body would be the only consequence.
    let json = serde_json::to_vec(body).unwrap_or_default();
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
        if let Ok(value) = HeaderValue::from_str(&value) {
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
