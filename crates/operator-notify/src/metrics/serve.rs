//! The metrics endpoint: `GET /metrics` answers Prometheus text; any other path is a 404 with
//! a JSON error body.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;

use super::registry::Metrics;

/// The routes: `GET /metrics`.
pub fn app(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(render))
        .fallback(not_found)
        .with_state(metrics)
}

/// Serves [`app`] on `listener` until `shutdown` completes.
///
/// # Errors
/// When the listener fails.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(metrics))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn render(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics.render(),
    )
}

async fn not_found(uri: Uri) -> impl IntoResponse {
    let body = serde_json::json!({
        "error": format!("no such path {}; the metrics are at /metrics", uri.path()),
    });
    (StatusCode::NOT_FOUND, axum::Json(body))
}
