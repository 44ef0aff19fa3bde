//! The simulated Prometheus: `/api/v1/query` for the subject's two queries, with series for the
//! stores a real Prometheus would be scraping (`Up` and `Offline` ones), labelled with their
//! status address.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;
use serde_json::{Value, json};

use super::shared::{Shared, gate};
use super::state::SimStore;
use crate::prometheus::QUERY_PATH;

/// What a query asks for.
enum Asked {
    Qps,
    P99,
}

/// Routes of the simulated Prometheus.
pub(super) fn router(shared: Shared) -> Router {
    Router::new()
        .route(QUERY_PATH, get(query).post(query))
        .with_state(shared)
}

/// Prometheus' error envelope.
fn error(status: StatusCode, error_type: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({ "status": "error", "errorType": error_type, "error": message })),
    )
        .into_response()
}

fn unavailable(status: u16) -> Response {
    error(
        StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
        "unavailable",
        "the simulated Prometheus is unavailable",
    )
}

/// Which of the two known queries `promql` is, judged on what matters: the metric, and the
/// grouping that yields one series per store (`le` kept for the quantile).
fn classify(promql: &str) -> Result<Asked, String> {
    let q: String = promql.split_whitespace().collect::<Vec<_>>().join(" ");
    let excludes_gc = q.contains(r#"type!="kv_gc""#);
    if q.starts_with("histogram_quantile(0.99,")
        && q.contains("tikv_grpc_msg_duration_seconds_bucket")
        && q.contains("sum by (le, instance)")
        && excludes_gc
    {
        return Ok(Asked::P99);
    }
    if q.starts_with("sum by (instance)")
        && q.contains("rate(tikv_grpc_msg_duration_seconds_count")
        && excludes_gc
    {
        return Ok(Asked::Qps);
    }
    Err(format!(
        "the simulated Prometheus only answers per-instance gRPC QPS and p99 queries, not {q:?}"
    ))
}

fn scraped(store: &SimStore) -> bool {
    matches!(store.state_name.as_str(), "Up" | "Offline")
}

async fn query(
    State(shared): State<Shared>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let state = match gate(
        &shared,
        "prometheus",
        QUERY_PATH,
        |s| s.prometheus,
        unavailable,
    )
    .await
    {
        Ok(state) => state,
        Err(response) => return response,
    };
    let Some(promql) = params.get("query") else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_data",
            "invalid parameter \"query\": 1:1: parse error: no expression found in input",
        );
    };
    let asked = match classify(promql) {
        Ok(asked) => asked,
        Err(message) => return error(StatusCode::BAD_REQUEST, "bad_data", &message),
    };
    #[allow(clippy::cast_precision_loss)] // a timestamp in seconds with millisecond precision
    let now = Utc::now().timestamp_millis() as f64 / 1000.0;
    let result: Vec<Value> = state
        .stores
        .iter()
        .filter(|s| scraped(s))
        .map(|s| {
            let value = match asked {
                Asked::Qps => s.qps.to_string(),
                Asked::P99 => s
                    .p99_seconds
                    .map_or_else(|| "NaN".to_owned(), |v| v.to_string()),
            };
            let instance = s
                .prometheus_instance
                .as_deref()
                .unwrap_or(&s.status_address);
            json!({ "metric": { "instance": instance }, "value": [now, value] })
        })
        .collect();
    axum::Json(json!({
        "status": "success",
        "data": { "resultType": "vector", "result": result },
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::prometheus::{p99_query, qps_query};

    #[test]
    fn accepts_the_subject_queries_and_rejects_wrong_groupings() {
        let w = Duration::from_secs(60);
        assert!(matches!(classify(&p99_query(w)), Ok(Asked::P99)));
        assert!(matches!(classify(&qps_query(w)), Ok(Asked::Qps)));
        let wrong = [
            // Buckets summed away: no quantile per store.
            r#"histogram_quantile(0.99, sum by (instance) (rate(tikv_grpc_msg_duration_seconds_bucket{type!="kv_gc"}[1m])))"#,
            // Per type, not per store.
            r#"histogram_quantile(0.99, sum by (le, type) (rate(tikv_grpc_msg_duration_seconds_bucket{type!="kv_gc"}[1m])))"#,
            r#"sum(rate(tikv_grpc_msg_duration_seconds_count[1m]))"#,
            "up",
        ];
        for q in wrong {
            assert!(classify(q).is_err(), "{q}");
        }
    }
}
