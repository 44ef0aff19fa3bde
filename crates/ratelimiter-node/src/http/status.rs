//! Status endpoints: the registry, this node, health, readiness, metrics, and the fallbacks.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use ratelimiter_schema::{ErrorCode, NodeInfo, NodesResponse, secret_digest};

use super::auth::AuthGate;
use super::error::ApiError;
use crate::node::Node;

/// `GET /v1/nodes`: every registered node, Up or Down by heartbeat age (Redis time).
pub(super) async fn nodes(State(node): State<Arc<Node>>) -> Result<Json<NodesResponse>, ApiError> {
    node.store
        .nodes()
        .await
        .map(Json)
        .map_err(|e| ApiError::redis(&e))
}

/// `GET /v1/node`: this node, with the digest of its identifier secret (never the secret), and
/// with `--envoy-config`, the status of each file (`envoy_config`).
pub(super) async fn node(State(node): State<Arc<Node>>) -> Json<serde_json::Value> {
    let mut info: NodeInfo = node.info();
    info.identifier_secret_digest = secret_digest(node.config.identifier_secret_bytes());
    let mut body = serde_json::to_value(info).unwrap_or_default();
    let files = node.rls().files();
    if !files.is_empty()
        && let Some(map) = body.as_object_mut()
    {
        map.insert("envoy_config".into(), serde_json::to_value(files).unwrap_or_default());
    }
    Json(body)
}

/// `GET /healthz`: the process is alive.
pub(super) async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

/// `GET /readyz`: 200 only when Redis answers now, holds the policies, and this node has loaded
/// them from Redis; 503 with the reason otherwise.
pub(super) async fn readyz(State(node): State<Arc<Node>>) -> Response {
    let not_ready = |detail: String| {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: ErrorCode::NotReady,
            detail,
        }
        .into_response()
    };
    match node.store.policy_version().await {
        Err(e) => return not_ready(format!("redis does not answer: {e}")),
        Ok(None) => return not_ready("redis holds no policies (being re-seeded)".into()),
        Ok(Some(_)) => {}
    }
    let loaded = node.policies();
    if !loaded.from_redis {
        return not_ready("policies not loaded from redis yet".into());
    }
    Json(serde_json::json!({"status": "ready", "policy_version": loaded.version})).into_response()
}

/// `GET /metrics`: Prometheus text format, the node's metrics and the admin token's gate.
pub(super) async fn metrics(
    State(node): State<Arc<Node>>,
    gate: Option<Extension<Arc<AuthGate>>>,
) -> Response {
    let mut text = node.metrics.render(
        &node.config.node_id,
        node.policies().version,
        node.up_nodes(),
    );
    if let Some(Extension(gate)) = gate {
        text.push_str(&gate.render(&escape_label(&node.config.node_id)));
    }
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        text,
    )
        .into_response()
}

/// Any other path.
pub(super) async fn not_found() -> ApiError {
    ApiError::not_found(ErrorCode::NotFound, "no such endpoint")
}

/// A known path with the wrong method.
pub(super) async fn method_not_allowed() -> ApiError {
    ApiError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        code: ErrorCode::MethodNotAllowed,
        detail: "method not allowed on this endpoint".into(),
    }
}

/// A Prometheus label value: `\`, `"` and newlines escaped.
fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
