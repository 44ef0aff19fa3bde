//! Management endpoints: policies and counters. Mutations need the admin token when one is set.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ratelimiter_schema::policy::{DEFAULT_POLICY, validate_name};
use ratelimiter_schema::{ErrorCode, PoliciesResponse, Policy, PolicySpec};
use serde::Deserialize;

use super::check::body_rejection;
use super::error::ApiError;
use crate::node::Node;

/// Most counters one page may ask for; larger `count` values are refused, not capped.
const MAX_PAGE: u64 = 1_000;

/// Refuses the request unless it carries `Authorization: Bearer <admin token>` (when one is set).
fn require_admin(node: &Node, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(token) = node.config.admin_token.as_deref() else {
        return Ok(());
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(given) if constant_time_eq(given.as_bytes(), token.as_bytes()) => Ok(()),
        _ => Err(ApiError::unauthorized()),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `GET /v1/policies`: the set this node has loaded.
pub(super) async fn list_policies(State(node): State<Arc<Node>>) -> Json<PoliciesResponse> {
    let loaded = node.policies();
    Json(PoliciesResponse {
        version: loaded.version,
        digest: loaded.digest.clone(),
        policies: loaded.set.sorted().into_iter().cloned().collect(),
    })
}

/// `GET /v1/policies/{name}`.
pub(super) async fn get_policy(
    State(node): State<Arc<Node>>,
    name: Result<Path<String>, PathRejection>,
) -> Result<Json<Policy>, ApiError> {
    let Path(name) = name?;
    node.policies()
        .set
        .get(&name)
        .cloned()
        .map(Json)
        .ok_or_else(|| unknown_policy(&name))
}

/// `PUT /v1/policies/{name}` with a [`PolicySpec`] body: creates or replaces, bumping the version.
pub(super) async fn put_policy(
    State(node): State<Arc<Node>>,
    name: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let Path(name) = name?;
    require_admin(&node, &headers)?;
    let body = body.map_err(body_rejection)?;
    let spec: PolicySpec = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(ErrorCode::BadRequest, format!("invalid policy JSON: {e}"))
    })?;
    let policy = Policy::new(&name, spec)
        .map_err(|e| ApiError::bad_request(ErrorCode::InvalidPolicy, e.to_string()))?;
    let mut version = node
        .store
        .put_policy(&policy)
        .await
        .map_err(|e| ApiError::redis(&e))?;
    if version.is_none() {
        // Redis came back empty: seed the full set first, so this PUT does not leave a set of one.
        node.seed_policies()
            .await
            .map_err(|e| ApiError::redis(&e))?;
        version = node
            .store
            .put_policy(&policy)
            .await
            .map_err(|e| ApiError::redis(&e))?;
    }
    let Some(version) = version else {
        return Err(ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: ErrorCode::RedisUnavailable,
            detail: "policies vanished from redis while writing".into(),
        });
    };
    node.reload_policies()
        .await
        .map_err(|e| ApiError::redis(&e))?;
    tracing::info!(node = %node.config.node_id, policy = %name, version, "policy stored");
    Ok((
        StatusCode::OK,
        Json(serde_json::json!({"version": version, "policy": policy})),
    )
        .into_response())
}

/// `DELETE /v1/policies/{name}`: 404 for an unknown policy; `default` cannot be deleted.
pub(super) async fn delete_policy(
    State(node): State<Arc<Node>>,
    name: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Path(name) = name?;
    require_admin(&node, &headers)?;
    validate_name(&name)
        .map_err(|e| ApiError::bad_request(ErrorCode::InvalidPolicy, e.to_string()))?;
    if name == DEFAULT_POLICY {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidPolicy,
            "the default policy cannot be deleted; PUT a new one instead",
        ));
    }
    let result = node
        .store
        .delete_policy(&name)
        .await
        .map_err(|e| ApiError::redis(&e))?;
    match result {
        Some((true, version)) => {
            node.reload_policies()
                .await
                .map_err(|e| ApiError::redis(&e))?;
            tracing::info!(node = %node.config.node_id, policy = %name, version, "policy deleted");
            Ok(Json(serde_json::json!({"version": version, "deleted": name})).into_response())
        }
        _ => Err(unknown_policy(&name)),
    }
}

fn unknown_policy(name: &str) -> ApiError {
    ApiError::not_found(
        ErrorCode::UnknownPolicy,
        format!("no policy named {name:?}"),
    )
}

/// Query of `GET /v1/counters`.
#[derive(Debug, Deserialize)]
pub(super) struct CountersQuery {
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    count: Option<u64>,
}

/// `GET /v1/counters?prefix=&cursor=&count=`: one SCAN step; follow `next_cursor` to `"0"`.
pub(super) async fn list_counters(
    State(node): State<Arc<Node>>,
    query: Result<Query<CountersQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) =
        query.map_err(|e| ApiError::bad_request(ErrorCode::BadRequest, e.body_text()))?;
    let cursor = match q.cursor.as_deref() {
        None | Some("") => 0,
        Some(c) => c.parse::<u64>().map_err(|_| {
            ApiError::bad_request(ErrorCode::BadRequest, format!("invalid cursor {c:?}"))
        })?,
    };
    let count = q.count.unwrap_or(100);
    if count == 0 || count > MAX_PAGE {
        return Err(ApiError::bad_request(
            ErrorCode::BadRequest,
            format!("count must be between 1 and {MAX_PAGE}"),
        ));
    }
    let page = node
        .store
        .scan_counters(&q.prefix, cursor, count)
        .await
        .map_err(|e| ApiError::redis(&e))?;
    Ok(Json(page).into_response())
}

/// `DELETE /v1/counters/{key}`: forgets every counter of one key.
pub(super) async fn reset_counter(
    State(node): State<Arc<Node>>,
    key: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Path(key) = key?;
    require_admin(&node, &headers)?;
    ratelimiter_schema::keys::validate_user_key(&key)
        .map_err(|e| ApiError::bad_request(ErrorCode::InvalidKey, e.to_string()))?;
    let deleted = node
        .store
        .reset_counters(&key)
        .await
        .map_err(|e| ApiError::redis(&e))?;
    Ok(Json(serde_json::json!({"key": key, "deleted": deleted})).into_response())
}
