//! Management endpoints: policies and counters. With an admin token set, every one of them needs
//! it (checked by [`super::auth`] before any handler runs).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ratelimiter_schema::keys;
use ratelimiter_schema::policy::{DEFAULT_POLICY, validate_name};
use ratelimiter_schema::{ErrorCode, PoliciesResponse, Policy, PolicySet, PolicySpec};
use serde::Deserialize;

use super::check::body_rejection;
use super::error::ApiError;
use super::identity::visible_identifier;
use crate::node::Node;

/// Most counters one page may ask for; larger `count` values are refused, not capped.
const MAX_PAGE: u64 = 1_000;

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
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let Path(name) = name?;
    refuse_file_owned(&name)?;
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
) -> Result<Response, ApiError> {
    let Path(name) = name?;
    refuse_file_owned(&name)?;
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

/// 409 for a policy name an envoy configuration file owns (`rls-*`): the file is the source of
/// truth, and its next load would undo the change.
fn refuse_file_owned(name: &str) -> Result<(), ApiError> {
    if !name.starts_with(crate::rls::RLS_POLICY_PREFIX) {
        return Ok(());
    }
    Err(ApiError {
        status: StatusCode::CONFLICT,
        code: ErrorCode::PolicyOwnedByFile,
        detail: format!(
            "policy {name:?} is owned by an envoy configuration file (names starting with {:?} \
             are reserved for --envoy-config): change the file instead",
            crate::rls::RLS_POLICY_PREFIX
        ),
    })
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

/// `DELETE /v1/counters/{key}`: forgets every counter of one key that the loaded policies can
/// have written: for each policy whose pattern matches the key (`default` included), each of its
/// windows. The key names follow from [`keys::counter_key`], so nothing is scanned. An `api:` key
/// is fingerprinted first ([`visible_identifier`]). Answers the key as stored, how many counters
/// were deleted and their Redis keys, and how many names were tried.
pub(super) async fn reset_counter(
    State(node): State<Arc<Node>>,
    key: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(key) = key?;
    keys::validate_user_key(&key)
        .map_err(|e| ApiError::bad_request(ErrorCode::InvalidKey, e.to_string()))?;
    let key = visible_identifier(node.config.identifier_secret_bytes(), &key);
    let candidates = counter_names(&node.config.key_prefix, &node.policies().set, &key);
    let deleted = node
        .store
        .delete_counters(&candidates)
        .await
        .map_err(|e| ApiError::redis(&e))?;
    tracing::info!(key = %key, deleted = deleted.len(), "counters reset");
    node.near_counters_reset(&key).await;
    Ok(Json(serde_json::json!({
        "key": key,
        "deleted": deleted.len(),
        "redis_keys": deleted,
        "candidates": candidates.len(),
    }))
    .into_response())
}

/// Every counter name `key` can have under `set`: each window of each policy matching it.
fn counter_names(prefix: &str, set: &PolicySet, key: &str) -> Vec<String> {
    keys::counter_keys_of(prefix, key, set.sorted())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_names_cover_every_matching_policy_window() {
        let spec = |pattern: Option<&str>, windows: &[(u64, u64)]| PolicySpec {
            algorithm: Default::default(),
            pattern: pattern.map(str::to_owned),
            windows: windows
                .iter()
                .map(|&(limit, window_ms)| ratelimiter_schema::Window::new(limit, window_ms))
                .collect(),
        };
        let set = PolicySet::new([
            Policy::new("default", spec(None, &[(100, 1000)])).unwrap(),
            Policy::new(
                "login",
                spec(Some("login:*"), &[(5, 1000), (50, 3_600_000)]),
            )
            .unwrap(),
            Policy::new("api", spec(Some("api:*"), &[(10, 1000)])).unwrap(),
        ])
        .unwrap();
        assert_eq!(
            counter_names("rl:", &set, "login:7"),
            vec![
                "rl:c:{login:7}:default:1000",
                "rl:c:{login:7}:login:1000",
                "rl:c:{login:7}:login:3600000",
            ]
        );
        assert_eq!(
            counter_names("rl:", &set, "user:1"),
            vec!["rl:c:{user:1}:default:1000"]
        );
    }
}
