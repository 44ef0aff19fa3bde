//! Status endpoints: the registry, this node, health, readiness, metrics, and the fallbacks.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use ratelimiter_schema::{
    ErrorCode, FailureMode, NodeInfo, NodesResponse, RedisMode, ShardInfo, secret_digest,
};

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
    if let Some(map) = body.as_object_mut() {
        map.insert(
            "near_cache".into(),
            serde_json::to_value(node.near_info()).unwrap_or_default(),
        );
    }
    let files = node.rls().files();
    if !files.is_empty()
        && let Some(map) = body.as_object_mut()
    {
        map.insert(
            "envoy_config".into(),
            serde_json::to_value(files).unwrap_or_default(),
        );
    }
    Json(body)
}

/// `GET /healthz`: the process is alive.
pub(super) async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

/// `GET /readyz`. On one Redis (`single`): 200 only when Redis answers now, holds the
/// policies, and this node has loaded them from Redis; 503 with the reason otherwise. On a
/// cluster or Sentinel: 200 while every key can be decided, exactly or (for the shards being
/// failed over) by the failure mode, naming those shards and the reason; 503 before the
/// policies were first loaded from Redis, or when shards are unreachable and the failure mode
/// is `closed` (their keys would all be denied). So a failover does not take every node out of
/// the load balancer at once.
pub(super) async fn readyz(State(node): State<Arc<Node>>) -> Response {
    let not_ready = |detail: String| {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: ErrorCode::NotReady,
            detail,
        }
        .into_response()
    };
    let mode = node.store.mode();
    if mode != RedisMode::Single {
        let loaded = node.policies();
        let shards = node.store.shard_report();
        return match sharded_readiness(node.config.failure_mode, loaded.from_redis, &shards) {
            Ok(degraded) => Json(serde_json::json!({
                "status": "ready",
                "policy_version": loaded.version,
                "redis_mode": mode,
                "degraded_shards": degraded,
                "reason": (!degraded.is_empty()).then(|| format!(
                    "shards {} unreachable: their keys are decided by failure mode {}",
                    degraded.join(", "),
                    node.config.failure_mode
                )),
            }))
            .into_response(),
            Err(reason) => not_ready(reason),
        };
    }
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

/// Readiness on a cluster or Sentinel: `Ok` with the shards whose keys go to the failure mode
/// (unreachable or breaker open), or `Err` with why the node cannot decide every key.
fn sharded_readiness(
    mode: FailureMode,
    policies_from_redis: bool,
    shards: &[ShardInfo],
) -> Result<Vec<String>, String> {
    if !policies_from_redis {
        return Err("policies not loaded from redis yet".into());
    }
    let down: Vec<String> = shards
        .iter()
        .filter(|s| !s.ok)
        .map(|s| s.address.clone())
        .collect();
    if !down.is_empty() && mode == FailureMode::Closed {
        return Err(format!(
            "shards {} unreachable and failure mode closed: their keys would all be denied",
            down.join(", ")
        ));
    }
    Ok(down)
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
    node.near_info()
        .render(&mut text, &escape_label(&node.config.node_id));
    crate::metrics::render_limiter_mode(
        &mut text,
        &escape_label(&node.config.node_id),
        node.config.limiter_mode,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(address: &str, ok: bool) -> ShardInfo {
        ShardInfo {
            address: address.into(),
            slots: vec![[0, 16383]],
            rtt_us: Some(100),
            ok,
            clock_skew_ms: None,
        }
    }

    #[test]
    fn a_failover_keeps_the_node_ready_unless_the_failure_mode_is_closed() {
        let all = [shard("a:1", true), shard("b:2", true)];
        let one_down = [shard("a:1", true), shard("b:2", false)];
        for mode in [FailureMode::Open, FailureMode::Local, FailureMode::Closed] {
            assert_eq!(sharded_readiness(mode, true, &all), Ok(vec![]), "{mode}");
            assert!(
                sharded_readiness(mode, false, &all).is_err(),
                "no policies yet: {mode}"
            );
        }
        assert_eq!(
            sharded_readiness(FailureMode::Local, true, &one_down),
            Ok(vec!["b:2".to_owned()])
        );
        assert_eq!(
            sharded_readiness(FailureMode::Open, true, &one_down),
            Ok(vec!["b:2".to_owned()])
        );
        let closed = sharded_readiness(FailureMode::Closed, true, &one_down).unwrap_err();
        assert!(
            closed.contains("b:2") && closed.contains("closed"),
            "{closed}"
        );
    }
}
