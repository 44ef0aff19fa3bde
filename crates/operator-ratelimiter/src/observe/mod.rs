//! [`RateLimiterSubject`]: gathers an [`Observation`] from Redis and every node concurrently.
//!
//! Each source has its own timeout, so a dead node or a frozen Redis never blinds the monitor to
//! the rest: a source that fails is reported in the observation (`reachable: false` and the
//! error), never by failing the whole observation.

mod nodes;
mod redis_side;
mod scan;

use std::sync::Mutex;

use chrono::Utc;
use operator_core::{ActionReport, Diagnosable, Subject};
use ratelimiter_schema::Policy;

use crate::action::RateLimitAction;
use crate::config::{RateLimiterConfig, redact_url};
use crate::diagnosis::ContextSources;
use crate::error::{Error, Result};
use crate::observation::Observation;

/// The rate limiter (Redis and its nodes) as a subject of the operator.
pub struct RateLimiterSubject {
    pub(crate) config: RateLimiterConfig,
    pub(crate) redis: redis_side::RedisSource,
    pub(crate) http: reqwest::Client,
    /// The last valid policy set seen in Redis with its version, restored by `reseed_policies`.
    pub(crate) last_policies: Mutex<Option<(u64, Vec<Policy>)>>,
    /// Where the extra diagnosis context comes from.
    pub(crate) context_sources: ContextSources,
}

impl RateLimiterSubject {
    /// A subject for `config`.
    ///
    /// # Errors
    /// [`Error::Config`] when the configuration is invalid.
    pub fn new(config: RateLimiterConfig) -> Result<Self> {
        config.validate()?;
        let http = reqwest::Client::builder()
            .timeout(config.node_timeout)
            .connect_timeout(config.node_timeout)
            .pool_idle_timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| Error::Config(format!("http client: {e}")))?;
        let redis = redis_side::RedisSource::new(&config)?;
        Ok(Self {
            config,
            redis,
            http,
            last_policies: Mutex::new(None),
            context_sources: ContextSources::default(),
        })
    }

    /// Reads the extra diagnosis context (node log files) from `sources`.
    #[must_use]
    pub fn with_context_sources(mut self, sources: ContextSources) -> Self {
        self.context_sources = sources;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &RateLimiterConfig {
        &self.config
    }
}

impl Subject for RateLimiterSubject {
    type Observation = Observation;
    type Action = RateLimitAction;
    type Error = Error;

    fn name(&self) -> &str {
        "ratelimit"
    }

    fn description(&self) -> String {
        format!(
            "A distributed rate limiter: {} identical ratelimiter-node processes ({}) share exact \
             limits through atomic Lua scripts in one Redis ({}), under the key prefix {:?}. \
             Policies (limits per key pattern, with a version) live in Redis and are cached by every \
             node; each decision is one EVALSHA of a sliding-window script timed by Redis TIME; \
             every key has a TTL. When Redis fails, each node decides by its failure mode (open: \
             allow, closed: deny, local: in-process limits at its share).",
            self.config.nodes.len(),
            self.config.nodes.join(", "),
            redact_url(&self.config.redis_url),
            self.config.key_prefix
        )
    }

    async fn observe(&self) -> Result<Observation> {
        let observed_at = Utc::now();
        let node_futures = self
            .config
            .nodes
            .iter()
            .map(|url| nodes::observe(&self.http, url));
        let (redis, nodes) = tokio::join!(
            self.redis.observe(&self.config),
            futures::future::join_all(node_futures)
        );
        let (redis, redis_clock) = redis;
        let nodes = nodes
            .into_iter()
            .map(|(mut view, node_clock)| {
                if let (Some(r), Some(n), Some(info)) = (&redis_clock, node_clock, &view.info) {
                    view.clock_skew_ms = Some(r.skew_ms(info.now_ms, n));
                }
                view
            })
            .collect();
        if let Some(p) = redis
            .policies
            .as_ref()
            .filter(|p| p.present && p.invalid.is_empty() && !p.policies.is_empty())
            && let Ok(mut last) = self.last_policies.lock()
        {
            *last = Some((p.version.unwrap_or(0), p.policies.clone()));
        }
        Ok(Observation {
            observed_at,
            key_prefix: self.config.key_prefix.clone(),
            redis,
            nodes,
        })
    }

    async fn execute(&self, action: &RateLimitAction) -> Result<ActionReport> {
        crate::action::execute(self, action).await
    }
}

impl Diagnosable for RateLimiterSubject {
    async fn context(
        &self,
        ticket: &operator_core::Ticket,
        latest: Option<&Observation>,
    ) -> Vec<operator_core::ContextSection> {
        crate::diagnosis::context_sections(self, ticket, latest).await
    }

    fn rules(&self) -> Vec<operator_core::Rule> {
        crate::diagnosis::rules()
    }
}
