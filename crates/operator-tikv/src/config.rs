//! Configuration of the TiKV subject and its invariants: plain structs with documented defaults,
//! validated once.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Where the cluster is and how to ask it. Build with [`Default`] and the setters, then
/// [`validate`](TikvConfig::validate) (done by [`TikvSubject::new`](crate::TikvSubject::new)).
#[derive(Debug, Clone, PartialEq)]
pub struct TikvConfig {
    /// PD client URLs (`http://host:2379`), tried in this order on every observation; the first
    /// that answers the store list is used for the whole observation. Default:
    /// `http://127.0.0.1:2379`.
    pub pd_endpoints: Vec<String>,
    /// Prometheus base URL (`http://host:9090`), or `None` to observe without metrics (then
    /// `high_latency` is never evaluated). Default: `http://127.0.0.1:9090`.
    pub prometheus: Option<String>,
    /// Bound on each HTTP request, connection included. Default: 2 s.
    pub request_timeout: Duration,
    /// Bound on establishing a connection. Default: 1 s.
    pub connect_timeout: Duration,
    /// Window of the PromQL `rate()` behind QPS and p99 latency; at least four scrape intervals
    /// of the Prometheus being asked. Default: 1 min.
    pub rate_window: Duration,
    /// Thresholds of the invariants.
    pub thresholds: Thresholds,
}

impl Default for TikvConfig {
    fn default() -> Self {
        Self {
            pd_endpoints: vec!["http://127.0.0.1:2379".to_owned()],
            prometheus: Some("http://127.0.0.1:9090".to_owned()),
            request_timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(1),
            rate_window: Duration::from_secs(60),
            thresholds: Thresholds::default(),
        }
    }
}

impl TikvConfig {
    /// Sets the PD endpoints.
    #[must_use]
    pub fn pd_endpoints<I, S>(mut self, endpoints: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.pd_endpoints = endpoints.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the Prometheus URL (`None`: no metrics).
    #[must_use]
    pub fn prometheus(mut self, url: Option<impl Into<String>>) -> Self {
        self.prometheus = url.map(Into::into);
        self
    }

    /// Sets the per-request timeout.
    #[must_use]
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets the thresholds.
    #[must_use]
    pub fn thresholds(mut self, thresholds: Thresholds) -> Self {
        self.thresholds = thresholds;
        self
    }

    /// Checks the configuration.
    ///
    /// # Errors
    /// [`Error::Config`] naming the first bad setting.
    pub fn validate(&self) -> Result<()> {
        if self.pd_endpoints.is_empty() {
            return Err(Error::Config("at least one PD endpoint is required".into()));
        }
        for endpoint in &self.pd_endpoints {
            check_url("PD endpoint", endpoint)?;
        }
        if let Some(url) = &self.prometheus {
            check_url("Prometheus URL", url)?;
        }
        if self.request_timeout.is_zero() || self.connect_timeout.is_zero() {
            return Err(Error::Config("timeouts must be greater than zero".into()));
        }
        if self.rate_window < Duration::from_secs(1) {
            return Err(Error::Config("the rate window must be at least 1s".into()));
        }
        self.thresholds.validate()
    }
}

/// Parses `url` as an absolute `http`/`https` URL with a host.
fn check_url(what: &str, url: &str) -> Result<reqwest::Url> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| Error::Config(format!("{what} {url:?} is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(Error::Config(format!(
            "{what} {url:?} must be an http:// or https:// URL with a host"
        )));
    }
    Ok(parsed)
}

/// The thresholds of the invariants. Every field is documented with its default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// `high_latency` is a warning when a store's gRPC p99 exceeds this. Default: 500 ms.
    #[serde(with = "operator_core::invariant::duration_ms")]
    pub p99_warning: Duration,
    /// `high_latency` is critical when a store's gRPC p99 reaches this. Default: 2 s.
    #[serde(with = "operator_core::invariant::duration_ms")]
    pub p99_critical: Duration,
    /// `low_disk_space` is a warning when a store's available space falls below this fraction of
    /// its capacity. Default: 0.20.
    pub disk_available_warning: f64,
    /// `low_disk_space` is critical below this fraction. Default: 0.10.
    pub disk_available_critical: f64,
    /// `leader_imbalance` fires for a store whose leader count differs from its fair share (by
    /// leader weight, among `Up` stores) by more than this fraction of that share. Default: 0.5.
    pub leader_imbalance: f64,
    /// `leader_imbalance` is only evaluated when the `Up` stores hold at least this many leaders
    /// each on average, so that tiny clusters do not raise noise. Default: 10.
    pub leader_min_mean: u64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            p99_warning: Duration::from_millis(500),
            p99_critical: Duration::from_secs(2),
            disk_available_warning: 0.20,
            disk_available_critical: 0.10,
            leader_imbalance: 0.5,
            leader_min_mean: 10,
        }
    }
}

impl Thresholds {
    /// Checks the thresholds.
    ///
    /// # Errors
    /// [`Error::Config`] naming the first bad threshold.
    pub fn validate(&self) -> Result<()> {
        if self.p99_warning.is_zero() {
            return Err(Error::Config(
                "the p99 warning threshold must be > 0".into(),
            ));
        }
        if self.p99_critical < self.p99_warning {
            return Err(Error::Config(format!(
                "the p99 critical threshold ({:?}) must not be below the warning threshold ({:?})",
                self.p99_critical, self.p99_warning
            )));
        }
        for (name, value) in [
            ("disk warning", self.disk_available_warning),
            ("disk critical", self.disk_available_critical),
        ] {
            if !(value > 0.0 && value < 1.0) {
                return Err(Error::Config(format!(
                    "the {name} threshold must be a fraction between 0 and 1, got {value}"
                )));
            }
        }
        if self.disk_available_critical > self.disk_available_warning {
            return Err(Error::Config(format!(
                "the disk critical threshold ({}) must not be above the warning threshold ({})",
                self.disk_available_critical, self.disk_available_warning
            )));
        }
        if !(self.leader_imbalance.is_finite() && self.leader_imbalance > 0.0) {
            return Err(Error::Config(format!(
                "the leader imbalance threshold must be > 0, got {}",
                self.leader_imbalance
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        TikvConfig::default().validate().unwrap();
    }

    #[test]
    fn bad_settings_are_named() {
        let cases: Vec<(TikvConfig, &str)> = vec![
            (
                TikvConfig::default().pd_endpoints(Vec::<String>::new()),
                "at least one PD endpoint",
            ),
            (
                TikvConfig::default().pd_endpoints(["pd1:2379"]),
                "PD endpoint \"pd1:2379\"",
            ),
            (
                TikvConfig::default().prometheus(Some("not a url")),
                "Prometheus URL",
            ),
            (
                TikvConfig::default().request_timeout(Duration::ZERO),
                "timeouts",
            ),
            (
                TikvConfig::default().thresholds(Thresholds {
                    p99_critical: Duration::from_millis(100),
                    ..Thresholds::default()
                }),
                "p99 critical",
            ),
            (
                TikvConfig::default().thresholds(Thresholds {
                    disk_available_warning: 1.5,
                    ..Thresholds::default()
                }),
                "disk warning",
            ),
            (
                TikvConfig::default().thresholds(Thresholds {
                    disk_available_critical: 0.3,
                    ..Thresholds::default()
                }),
                "disk critical threshold (0.3) must not be above",
            ),
            (
                TikvConfig::default().thresholds(Thresholds {
                    leader_imbalance: 0.0,
                    ..Thresholds::default()
                }),
                "leader imbalance",
            ),
        ];
        for (config, expected) in cases {
            let e = config.validate().unwrap_err().to_string();
            assert!(e.contains(expected), "{e:?} should mention {expected:?}");
        }
    }

    #[test]
    fn prometheus_can_be_disabled() {
        TikvConfig::default()
            .prometheus(None::<String>)
            .validate()
            .unwrap();
    }
}
