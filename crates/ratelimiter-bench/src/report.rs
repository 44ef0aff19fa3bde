//! What a load run reports: per-second figures while it runs, and a summary at the end.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Latency percentiles, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p999_us: u64,
    /// Largest.
    pub max_us: u64,
    /// Mean.
    pub mean_us: f64,
}

impl Percentiles {
    pub(crate) fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        Self {
            p50_us: h.value_at_quantile(0.5),
            p90_us: h.value_at_quantile(0.9),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
            mean_us: h.mean(),
        }
    }
}

/// One second of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SecondStats {
    /// Seconds since the start (1 for the first second).
    pub second: u64,
    /// Allowed decisions (HTTP 200).
    pub allowed: u64,
    /// Denied decisions (HTTP 429).
    pub denied: u64,
    /// Failed requests (connection errors, timeouts, other statuses).
    pub errors: u64,
    /// Latency of this second's requests.
    pub latency: Percentiles,
}

/// The summary of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadReport {
    /// Wall time of the run.
    #[serde(serialize_with = "secs")]
    pub elapsed: Duration,
    /// Allowed decisions.
    pub allowed: u64,
    /// Denied decisions.
    pub denied: u64,
    /// Failed requests.
    pub errors: u64,
    /// Failed requests by reason (`status 503`, `connect`, `timeout`, ...).
    pub error_kinds: std::collections::BTreeMap<String, u64>,
    /// (allowed + denied) / elapsed.
    pub decisions_per_sec: f64,
    /// Latency of every request.
    pub latency: Percentiles,
    /// Every second.
    pub per_second: Vec<SecondStats>,
}

impl LoadReport {
    /// Allowed plus denied.
    pub fn decisions(&self) -> u64 {
        self.allowed + self.denied
    }
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}
