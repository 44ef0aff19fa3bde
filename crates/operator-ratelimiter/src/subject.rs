//! [`RateLimiterSubject`]: the rate limiter (Redis and its nodes) as an operator subject. This is
//! the hub: it owns the connections and the state kept between observations, and joins the
//! parts (the gatherers of `observe`, the `action`s, the `diagnosis` context), which know
//! nothing of it.
//!
//! An observation asks Redis (PING, then one pipeline of reads, then a bounded step of the key
//! scan) and every node (`/readyz`, `/v1/node`, `/metrics`) concurrently, each source under its
//! own timeout, then corrects each node's clock reading for when it was answered. A source that
//! fails is reported in the observation, never by failing it.

use std::sync::Mutex;

use chrono::Utc;
use operator_core::{Action, ActionReport, Diagnosable, Subject};
use tokio::time::Instant;

use crate::action::{self, RateLimitAction, Target, VersionedPolicies};
use crate::config::{RateLimiterConfig, RedisMode};
use crate::diagnosis::{self, ContextSources};
use crate::error::{Error, Result};
use crate::observation::{NodeView, Observation, RedisView, SkewSource};
use crate::observe::{self, ClusterMemory, RedisClock, ScanState, SentinelMemory};
use crate::redis_handle::RedisHandle;

/// Name of the subject, as in `--subject ratelimit` and in tickets.
pub const SUBJECT_NAME: &str = "ratelimit";

/// The rate limiter (Redis and its nodes) as a subject of the operator.
pub struct RateLimiterSubject {
    config: RateLimiterConfig,
    redis: RedisHandle,
    /// Where the incremental key scan is, carried between observations.
    scan: tokio::sync::Mutex<ScanState>,
    http: reqwest::Client,
    /// The last valid policy set seen in Redis, restored by `reseed_policies`.
    last_policies: Mutex<Option<VersionedPolicies>>,
    /// Where the extra diagnosis context comes from.
    context_sources: ContextSources,
    /// `--redis-mode cluster`: the instances' handles and scans, the last topology.
    cluster: tokio::sync::Mutex<ClusterMemory>,
    /// `--redis-mode sentinel`: the sentinels' handles, the last primary, recent failovers.
    sentinels: tokio::sync::Mutex<SentinelMemory>,
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
        let redis = match config.redis_mode {
            RedisMode::Cluster => RedisHandle::cluster(&config.redis_urls(), config.redis_timeout)?,
            RedisMode::Single => RedisHandle::new(&config.redis_url, config.redis_timeout)?,
            RedisMode::Sentinel => RedisHandle::sentinel(
                &config.redis_urls(),
                config.sentinel_master.as_deref().unwrap_or_default(),
                config.redis_timeout,
            )?,
        };
        Ok(Self {
            config,
            redis,
            scan: tokio::sync::Mutex::new(ScanState::default()),
            http,
            last_policies: Mutex::new(None),
            context_sources: ContextSources::default(),
            cluster: tokio::sync::Mutex::new(ClusterMemory::default()),
            sentinels: tokio::sync::Mutex::new(SentinelMemory::default()),
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

    /// Remembers the policies of `redis` when they are a valid, non-empty set.
    fn remember_policies(&self, redis: &RedisView) {
        if let Some(p) = redis
            .policies
            .as_ref()
            .filter(|p| p.present && p.invalid.is_empty() && !p.policies.is_empty())
            && let Ok(mut last) = self.last_policies.lock()
        {
            *last = Some(VersionedPolicies {
                version: p.version.unwrap_or(0),
                policies: p.policies.clone(),
            });
        }
    }

    /// What an action may act on. On a cluster, the primaries known from the last observation.
    ///
    /// # Errors
    /// [`Error::Cluster`] on a cluster not observed yet (its primaries are unknown).
    async fn target(&self) -> Result<Target<'_>> {
        let shards = match self.config.redis_mode {
            RedisMode::Cluster => {
                let shards = self.cluster.lock().await.primaries();
                if shards.is_empty() {
                    return Err(Error::Cluster(
                        "the primaries are not known yet: no observation has read the topology"
                            .into(),
                    ));
                }
                shards
            }
            RedisMode::Single | RedisMode::Sentinel => Vec::new(),
        };
        Ok(Target {
            redis: &self.redis,
            key_prefix: &self.config.key_prefix,
            repair_ttl: self.config.repair_ttl,
            last_policies: self.last_policies.lock().ok().and_then(|l| l.clone()),
            shards,
        })
    }
}

impl Subject for RateLimiterSubject {
    type Observation = Observation;
    type Action = RateLimitAction;
    type Error = Error;

    fn name(&self) -> &str {
        SUBJECT_NAME
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
            self.config.redis_url_redacted(),
            self.config.key_prefix
        )
    }

    async fn observe(&self) -> Result<Observation> {
        let observed_at = Utc::now();
        let node_futures =
            self.config.nodes.iter().map(|url| {
                observe::observe_node(&self.http, url, self.config.node_token.as_deref())
            });
        // Boxed: the cluster's gatherers nest deep, and callers that hold an observation in
        // their own futures (the lab's demo) would otherwise pass the compiler's layout limit.
        let redis_side: std::pin::Pin<Box<dyn Future<Output = _> + Send + '_>> =
            match self.config.redis_mode {
                RedisMode::Cluster => Box::pin(observe::observe_on_cluster(
                    &self.redis,
                    &self.cluster,
                    &self.config,
                )),
                RedisMode::Single => Box::pin(observe::observe_redis(
                    &self.redis,
                    &self.scan,
                    &self.config,
                )),
                RedisMode::Sentinel => Box::pin(async {
                    let (sentinel, (mut view, clock)) = tokio::join!(
                        observe::observe_sentinels(&self.sentinels, &self.config),
                        observe::observe_redis(&self.redis, &self.scan, &self.config)
                    );
                    view.url = self.config.redis_url_redacted();
                    view.sentinel = Some(sentinel);
                    (view, clock)
                }),
            };
        let ((redis, redis_clock), nodes) =
            tokio::join!(redis_side, futures::future::join_all(node_futures));
        self.remember_policies(&redis);
        Ok(Observation {
            observed_at,
            key_prefix: self.config.key_prefix.clone(),
            redis,
            nodes: with_clock_skew(nodes, redis_clock.as_ref()),
        })
    }

    async fn execute(&self, action: &RateLimitAction) -> Result<ActionReport> {
        let report = action::execute(&self.target().await?, action).await?;
        tracing::info!(
            subject = SUBJECT_NAME,
            action = action.name(),
            changed = report.changed,
            "{}",
            report.summary
        );
        Ok(report)
    }
}

impl Diagnosable for RateLimiterSubject {
    async fn context(
        &self,
        ticket: &operator_core::Ticket,
        latest: Option<&Observation>,
    ) -> Vec<operator_core::ContextSection> {
        diagnosis::context_sections(&self.redis, &self.context_sources, ticket, latest).await
    }

    fn rules(&self) -> Vec<operator_core::Rule> {
        diagnosis::rules()
    }
}

/// The node views, each with its clock's skew from Redis `TIME`: as the node measured it (the
/// clock its `local` failure mode decides by, against the `TIME` of its own Redis replies) when
/// it reports one, else as the monitor tells it from the node's `now_ms` and Redis `TIME` read
/// at about the same moment (`answered_at` is when the node answered `/v1/node`).
fn with_clock_skew(
    nodes: Vec<(NodeView, Option<Instant>)>,
    redis_clock: Option<&RedisClock>,
) -> Vec<NodeView> {
    nodes
        .into_iter()
        .map(|(mut view, answered_at)| {
            let Some(info) = &view.info else {
                return view;
            };
            if let Some(skew) = info.clock_skew_ms {
                view.clock_skew_ms = Some(skew);
                view.clock_skew_source = Some(SkewSource::Node);
            } else if let (Some(r), Some(n)) = (redis_clock, answered_at) {
                view.clock_skew_ms = Some(r.skew_ms(info.now_ms, n));
                view.clock_skew_source = Some(SkewSource::Monitor);
            }
            view
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::sample;

    #[test]
    fn the_skew_a_node_measures_wins_over_the_monitors_estimate() {
        let now = Instant::now();
        let clock = RedisClock {
            time_ms: 1_800_000_000_000,
            at: now,
        };
        let mut reporting = sample::node(8001);
        reporting.clock_skew_ms = None;
        reporting.info.as_mut().unwrap().clock_skew_ms = Some(-2_500);
        let mut older = sample::node(8002);
        older.clock_skew_ms = None;
        older.info.as_mut().unwrap().now_ms = 1_800_000_000_700;
        let views = with_clock_skew(
            vec![(reporting, Some(now)), (older, Some(now))],
            Some(&clock),
        );
        let got: Vec<_> = views
            .iter()
            .map(|v| (v.clock_skew_ms, v.clock_skew_source))
            .collect();
        assert_eq!(
            got,
            [
                (Some(-2_500), Some(SkewSource::Node)),
                (Some(700), Some(SkewSource::Monitor))
            ]
        );
        // Without Redis TIME, the node's own measurement still counts.
        let mut reporting = sample::node(8001);
        reporting.info.as_mut().unwrap().clock_skew_ms = Some(40);
        let views = with_clock_skew(vec![(reporting, None)], None);
        assert_eq!(views[0].clock_skew_ms, Some(40));
    }
}
