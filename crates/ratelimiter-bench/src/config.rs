//! What a load run does.

use std::time::Duration;

use crate::error::LoadError;
use crate::target::parse_target;

/// How requests are paced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LoadMode {
    /// `concurrency` workers, each sending its next request as soon as the previous answers.
    Closed {
        /// Number of workers (and connections).
        concurrency: usize,
    },
    /// A fixed rate spread over `connections` workers. A request sent late because its worker
    /// was still waiting for a slow answer is timed from its scheduled instant, so a slow server
    /// shows as latency, not as a lower rate.
    Open {
        /// Requests per second.
        rate: f64,
        /// Number of workers (and connections).
        connections: usize,
    },
}

/// The key of [`LoadConfig::default`]: every request on it.
pub const DEFAULT_HOT_KEY: &str = "bench:hot";

/// Which keys requests carry.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyPattern {
    /// Every request on one key.
    Hot(String),
    /// Uniformly among `count` keys `<prefix><i>`.
    Many {
        /// Key prefix.
        prefix: String,
        /// Number of distinct keys.
        count: u64,
    },
    /// `hot_fraction` of requests on `hot`, the rest uniformly among `tail` keys.
    Mixed {
        /// The hot key.
        hot: String,
        /// Share of requests on the hot key, 0 to 1.
        hot_fraction: f64,
        /// Number of long-tail keys (`<hot>-tail-<i>`).
        tail: u64,
    },
    /// `top_fraction` of requests uniformly among `top` keys `<prefix>top-<i>`, the rest
    /// uniformly among `tail` keys `<prefix>tail-<i>` (seed 002's traffic:
    /// [`KeyPattern::seed_002`]).
    Skewed {
        /// Key prefix.
        prefix: String,
        /// Number of top keys.
        top: u64,
        /// Share of requests on the top keys, 0 to 1.
        top_fraction: f64,
        /// Number of long-tail keys.
        tail: u64,
    },
}

/// The key prefix of [`KeyPattern::seed_002`].
pub const SEED_002_PREFIX: &str = "bench:s2:";

impl KeyPattern {
    /// Seed 002's traffic: 80 % of requests from the top 1,000 keys, 20 % from a tail of
    /// 100,000 keys.
    pub fn seed_002() -> Self {
        Self::Skewed {
            prefix: SEED_002_PREFIX.to_owned(),
            top: 1_000,
            top_fraction: 0.8,
            tail: 100_000,
        }
    }
}

/// Which endpoint is driven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /v1/check` with `{"key", "cost"}`.
    Check,
    /// `GET /api/request` with the key as `X-API-Key`.
    ApiRequest,
    /// `GET /healthz` (no decision; a 200 counts as allowed): the HTTP stack's own rate, the
    /// reference the decision endpoints are compared to.
    Healthz,
}

/// Periodic bursts in open loop: every `every`, for `length`, the rate is multiplied by `factor`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Burst {
    /// Period of the bursts.
    pub every: Duration,
    /// Length of each burst.
    pub length: Duration,
    /// Rate multiplier during a burst.
    pub factor: f64,
}

/// One load run.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadConfig {
    /// Node base URLs (`http://127.0.0.1:8080`); connections are spread round-robin.
    pub targets: Vec<String>,
    /// Pacing.
    pub mode: LoadMode,
    /// How long to run.
    pub duration: Duration,
    /// Keys.
    pub keys: KeyPattern,
    /// Endpoint.
    pub endpoint: Endpoint,
    /// Cost sent with each check (`None`: omitted, i.e. 1).
    pub cost: Option<u64>,
    /// Bursts (open loop only).
    pub burst: Option<Burst>,
    /// Per-request timeout; a request past it counts as an error.
    pub request_timeout: Duration,
}

impl Default for LoadConfig {
    fn default() -> Self {
        Self {
            targets: vec!["http://127.0.0.1:8080".to_owned()],
            mode: LoadMode::Closed { concurrency: 64 },
            duration: Duration::from_secs(10),
            keys: KeyPattern::Hot(DEFAULT_HOT_KEY.to_owned()),
            endpoint: Endpoint::Check,
            cost: None,
            burst: None,
            request_timeout: Duration::from_secs(5),
        }
    }
}

impl LoadConfig {
    /// Checks the configuration.
    ///
    /// # Errors
    /// [`LoadError`] naming the problem.
    pub fn validate(&self) -> Result<(), LoadError> {
        if self.targets.is_empty() {
            return Err(LoadError::Config("at least one target".into()));
        }
        for t in &self.targets {
            parse_target(t)?;
        }
        match self.mode {
            LoadMode::Closed { concurrency: 0 } => {
                return Err(LoadError::Config("concurrency must be at least 1".into()));
            }
            LoadMode::Open { rate, connections }
                if !(rate > 0.0 && rate.is_finite()) || connections == 0 =>
            {
                return Err(LoadError::Config(
                    "open loop needs a positive rate and at least one connection".into(),
                ));
            }
            _ => {}
        }
        if self.duration.is_zero() {
            return Err(LoadError::Config("duration must be positive".into()));
        }
        match &self.keys {
            KeyPattern::Many { count: 0, .. }
            | KeyPattern::Mixed { tail: 0, .. }
            | KeyPattern::Skewed { top: 0, .. }
            | KeyPattern::Skewed { tail: 0, .. } => {
                return Err(LoadError::Config("key count must be at least 1".into()));
            }
            KeyPattern::Mixed {
                hot_fraction: f, ..
            }
            | KeyPattern::Skewed {
                top_fraction: f, ..
            } if !(0.0..=1.0).contains(f) => {
                return Err(LoadError::Config(
                    "hot fraction must be between 0 and 1".into(),
                ));
            }
            _ => {}
        }
        if let Some(b) = self.burst
            && (b.every.is_zero() || b.length > b.every || b.factor.is_nan() || b.factor <= 0.0)
        {
            return Err(LoadError::Config(
                "burst needs every > 0, length <= every and factor > 0".into(),
            ));
        }
        Ok(())
    }

    /// Number of workers (connections).
    pub fn workers(&self) -> usize {
        match self.mode {
            LoadMode::Closed { concurrency } => concurrency,
            LoadMode::Open { connections, .. } => connections,
        }
    }
}
