//! The Prometheus instant-query client, and the two queries behind per-store QPS and latency.
//!
//! Both queries aggregate on the Prometheus side, so one observation costs two requests whatever
//! the number of stores: gRPC QPS `sum by (instance)`, and the gRPC p99 as
//! `histogram_quantile(0.99, sum by (le, instance) (rate(..._bucket[w])))`, which keeps `le` (the
//! quantile needs the buckets) and `instance` (one value per store) and sums away everything
//! else (the gRPC message `type`). The `instance` label is the address Prometheus scrapes: a
//! store's *status* address (port 20180), not its service address (20160).
//!
//! Response shape: the Prometheus HTTP API (`/api/v1/query`, `"resultType": "vector"`, values as
//! `[<unix time>, "<sample as string>"]`, errors as `"status": "error"` with `errorType`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::http::{Http, endpoint_url};

/// Path of the instant-query API.
pub const QUERY_PATH: &str = "/api/v1/query";

/// The gRPC message types left out of QPS and latency: TiKV's own GC traffic.
const SELECTOR: &str = r#"type!="kv_gc""#;

/// PromQL of per-store gRPC requests per second, over a `rate()` window.
pub fn qps_query(window: Duration) -> String {
    format!(
        "sum by (instance) (rate(tikv_grpc_msg_duration_seconds_count{{{SELECTOR}}}[{}]))",
        promql_duration(window)
    )
}

/// PromQL of per-store gRPC p99 latency in seconds, over a `rate()` window.
pub fn p99_query(window: Duration) -> String {
    format!(
        "histogram_quantile(0.99, sum by (le, instance) (rate(tikv_grpc_msg_duration_seconds_bucket{{{SELECTOR}}}[{}])))",
        promql_duration(window)
    )
}

/// A duration as PromQL writes it (`1m`, `90s`, `1500ms`).
fn promql_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1_000) {
        format!("{}s", ms / 1_000)
    } else {
        format!("{ms}ms")
    }
}

/// QPS and p99 per Prometheus `instance`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct InstanceMetrics {
    /// gRPC requests per second.
    pub(crate) qps: BTreeMap<String, f64>,
    /// gRPC p99 in seconds (instances without traffic have none: the quantile of nothing is NaN).
    pub(crate) p99_seconds: BTreeMap<String, f64>,
}

/// Client of one Prometheus server.
#[derive(Debug, Clone)]
pub(crate) struct PrometheusClient {
    http: Http,
    base: String,
    qps_query: String,
    p99_query: String,
}

impl PrometheusClient {
    /// A client of the Prometheus at `base` (a validated URL).
    pub(crate) fn new(http: Http, base: String, rate_window: Duration) -> Self {
        Self {
            http,
            base,
            qps_query: qps_query(rate_window),
            p99_query: p99_query(rate_window),
        }
    }

    /// Both queries, concurrently.
    ///
    /// # Errors
    /// The first failure of either query.
    pub(crate) async fn instance_metrics(&self) -> Result<InstanceMetrics> {
        let (qps, p99) = tokio::join!(self.query(&self.qps_query), self.query(&self.p99_query));
        Ok(InstanceMetrics {
            qps: qps?,
            p99_seconds: p99?,
        })
    }

    /// Runs an instant query whose result is a vector with an `instance` label, and returns
    /// the finite value of each instance.
    ///
    /// # Errors
    /// [`Error::Query`] when Prometheus reports an error, [`Error::Invalid`] when the result is
    /// not a vector, and the transport errors of [`Http::get`].
    pub(crate) async fn query(&self, query: &str) -> Result<BTreeMap<String, f64>> {
        let mut url = endpoint_url(&self.base, QUERY_PATH)?;
        url.query_pairs_mut().append_pair("query", query);
        let response = self.http.get(url).await?;
        let body: wire::QueryResponse = match response.json() {
            Ok(body) => body,
            // Not the API's JSON: a proxy's error page, or a server that is not Prometheus.
            Err(_) if !(200..300).contains(&response.status) => {
                return Err(response.status_error());
            }
            Err(e) => return Err(e),
        };
        if body.status != "success" {
            return Err(Error::Query {
                query: query.to_owned(),
                error_type: body.error_type.unwrap_or_default(),
                message: body.error.unwrap_or_default(),
                status: response.status,
            });
        }
        for warning in &body.warnings {
            tracing::debug!(query, warning = %warning, "prometheus query warning");
        }
        let data = body.data.ok_or_else(|| Error::Invalid {
            url: response.url.clone(),
            message: "a successful query without data".into(),
        })?;
        if data.result_type != "vector" {
            return Err(Error::Invalid {
                url: response.url.clone(),
                message: format!("expected a vector, got a {}", data.result_type),
            });
        }
        let samples: Vec<wire::Sample> =
            serde_json::from_value(data.result).map_err(|source| Error::Decode {
                url: response.url.clone(),
                source,
            })?;
        Ok(by_instance(samples))
    }
}

/// The finite value of each `instance`; samples without one, or with NaN or infinities, are
/// dropped (they say "no data", not "zero").
fn by_instance(samples: Vec<wire::Sample>) -> BTreeMap<String, f64> {
    let mut values = BTreeMap::new();
    for sample in samples {
        let Some(instance) = sample.metric.get("instance") else {
            continue;
        };
        let Ok(value) = sample.value.1.parse::<f64>() else {
            continue;
        };
        if value.is_finite() {
            values.entry(instance.clone()).or_insert(value);
        }
    }
    values
}

/// The JSON of the Prometheus HTTP API.
pub(crate) mod wire {
    use std::collections::BTreeMap;

    use super::Deserialize;

    /// The envelope of every API response.
    #[derive(Debug, Deserialize)]
    pub(crate) struct QueryResponse {
        pub(crate) status: String,
        #[serde(default)]
        pub(crate) data: Option<QueryData>,
        #[serde(default, rename = "errorType")]
        pub(crate) error_type: Option<String>,
        #[serde(default)]
        pub(crate) error: Option<String>,
        #[serde(default)]
        pub(crate) warnings: Vec<String>,
    }

    /// `data` of a query.
    #[derive(Debug, Deserialize)]
    pub(crate) struct QueryData {
        #[serde(rename = "resultType")]
        pub(crate) result_type: String,
        pub(crate) result: serde_json::Value,
    }

    /// One element of a vector result.
    #[derive(Debug, Deserialize)]
    pub(crate) struct Sample {
        #[serde(default)]
        pub(crate) metric: BTreeMap<String, String>,
        /// `[<unix time>, "<value>"]`.
        pub(crate) value: (f64, String),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_group_by_instance_and_keep_buckets_for_the_quantile() {
        let p99 = p99_query(Duration::from_secs(60));
        assert_eq!(
            p99,
            r#"histogram_quantile(0.99, sum by (le, instance) (rate(tikv_grpc_msg_duration_seconds_bucket{type!="kv_gc"}[1m])))"#
        );
        let qps = qps_query(Duration::from_secs(90));
        assert_eq!(
            qps,
            r#"sum by (instance) (rate(tikv_grpc_msg_duration_seconds_count{type!="kv_gc"}[90s]))"#
        );
        assert_eq!(promql_duration(Duration::from_millis(1500)), "1500ms");
    }

    fn parse(json: &str) -> wire::QueryResponse {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn reads_vectors_by_instance_and_drops_nan() {
        let body = parse(include_str!("simulator/fixtures/prometheus_p99.json"));
        assert_eq!(body.status, "success");
        let data = body.data.unwrap();
        assert_eq!(data.result_type, "vector");
        let samples: Vec<wire::Sample> = serde_json::from_value(data.result).unwrap();
        let values = by_instance(samples);
        assert_eq!(
            values.keys().collect::<Vec<_>>(),
            ["tikv1:20180", "tikv2:20180"],
            "tikv3 has no traffic: its quantile is NaN, which is no data"
        );
        assert!((values["tikv1:20180"] - 0.0123).abs() < 1e-9);
    }

    #[test]
    fn reads_special_values() {
        let samples: Vec<wire::Sample> = serde_json::from_str(
            r#"[{"metric": {"instance": "a"}, "value": [1, "+Inf"]},
                {"metric": {"instance": "b"}, "value": [1, "NaN"]},
                {"metric": {"instance": "c"}, "value": [1, "-Inf"]},
                {"metric": {"instance": "d"}, "value": [1, "1e-3"]},
                {"metric": {}, "value": [1, "5"]}]"#,
        )
        .unwrap();
        let values = by_instance(samples);
        assert_eq!(values.len(), 1);
        assert!((values["d"] - 0.001).abs() < 1e-12);
    }

    #[test]
    fn reads_errors() {
        let body = parse(include_str!("simulator/fixtures/prometheus_error.json"));
        assert_eq!(body.status, "error");
        assert_eq!(body.error_type.as_deref(), Some("bad_data"));
        assert!(body.error.unwrap().contains("parse error"));
    }
}
