//! [`Node::should_rate_limit`]: the decision of one rate-limit service request, the same for
//! gRPC and in-process callers.
//!
//! Every descriptor is looked up in its domain's tree; one that lands on no limit (or on an
//! `unlimited` one, or whose domain is not configured) is OK with no limit, as in
//! envoyproxy/ratelimit (the HTTP `default` policy never applies). The limited ones are checked
//! in one atomic script call in single-Redis mode (nothing consumed when one denies), or one
//! call per descriptor with [`crate::Config::rls_per_descriptor`] (Redis Cluster: the
//! descriptors' counters live on different slots, as in envoyproxy/ratelimit). Redis trouble is
//! never an error: the failure mode decides (`open`: OK, `closed`: OVER_LIMIT, `local`: in
//! process at this node's share).

use std::sync::atomic::Ordering::Relaxed;

use ratelimiter_schema::cluster::RedisMode;
use ratelimiter_schema::{FailureMode, Policy};

use crate::algorithm::Outcome;
use crate::node::Node;
use crate::rls::config::RateLimitConfig;
use crate::rls::descriptor::RlsRequest;
use crate::rls::error::RlsRequestError;
use crate::rls::metrics::HitKind;
use crate::rls::rules::Rule;
use crate::store::RlsAsk;

/// Envoy's per-descriptor and overall code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RlsCode {
    /// Under the limit (or no limit, or shadow mode).
    Ok,
    /// Over the limit.
    OverLimit,
}

/// One descriptor's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RlsStatus {
    /// The code.
    pub code: RlsCode,
    /// The limit that applied (`None`: no limit matched, or `unlimited`).
    pub limit: Option<RateLimitConfig>,
    /// The policy holding the limit.
    pub policy: Option<String>,
    /// Hits still available in the window after this request.
    pub remaining: u64,
    /// Milliseconds until the window resets.
    pub reset_after_ms: u64,
    /// Milliseconds until a request of the same cost could pass (0 when OK).
    pub retry_after_ms: u64,
    /// Over the limit but allowed by shadow mode.
    pub shadowed: bool,
}

impl RlsStatus {
    fn unlimited(limit: Option<RateLimitConfig>) -> Self {
        Self {
            code: RlsCode::Ok,
            limit,
            policy: None,
            remaining: 0,
            reset_after_ms: 0,
            retry_after_ms: 0,
            shadowed: false,
        }
    }
}

/// The answer to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RlsAnswer {
    /// OVER_LIMIT when any descriptor is.
    pub overall: RlsCode,
    /// One per descriptor, in the request's order.
    pub statuses: Vec<RlsStatus>,
    /// Set when decided without Redis.
    pub degraded: Option<FailureMode>,
}

/// A limited descriptor of the request.
struct Limited<'a> {
    index: usize,
    rule: &'a Rule,
    policy: &'a Policy,
    user_key: String,
    metric: String,
}

impl Node {
    /// Decides `request`: every descriptor limited, OVER_LIMIT overall when any is.
    ///
    /// # Errors
    /// [`RlsRequestError`] for a malformed request (no domain, no descriptor, an empty one);
    /// never for Redis trouble (the failure mode decides).
    pub async fn should_rate_limit(
        &self,
        request: &RlsRequest,
    ) -> Result<RlsAnswer, RlsRequestError> {
        request.validate()?;
        let cost = request.cost();
        let mut statuses: Vec<RlsStatus> =
            vec![RlsStatus::unlimited(None); request.descriptors.len()];
        let Some(rules) = self.rls.domain(&request.domain) else {
            return Ok(RlsAnswer {
                overall: RlsCode::Ok,
                statuses,
                degraded: None,
            });
        };
        let secret = self.config.identifier_secret_bytes();
        let mut limited = Vec::new();
        for (index, d) in request.descriptors.iter().enumerate() {
            let Some(rule) = rules.find(d) else { continue };
            let Some(policy) = &rule.policy else {
                statuses[index] = RlsStatus::unlimited(Some(rule.limit));
                continue;
            };
            let metric = if rule.detailed_metric {
                format!("{}:{}", rule.metric_key, d.values_fingerprint(secret))
            } else {
                rule.metric_key.clone()
            };
            limited.push(Limited {
                index,
                rule,
                policy,
                user_key: d.counter_user_key(&policy.name, secret),
                metric,
            });
        }
        let (outcomes, degraded) = self.check_limited(&limited, cost).await;
        for (l, outcome) in limited.iter().zip(outcomes) {
            let status = self.status_of(l, &outcome, cost, &rules.domain);
            statuses[l.index] = status;
        }
        let over = statuses.iter().any(|s| s.code == RlsCode::OverLimit);
        let counter = if over {
            &self.metrics.denied
        } else {
            &self.metrics.allowed
        };
        if degraded.is_none() && !limited.is_empty() {
            counter.fetch_add(1, Relaxed);
        }
        Ok(RlsAnswer {
            overall: if over {
                RlsCode::OverLimit
            } else {
                RlsCode::Ok
            },
            statuses,
            degraded,
        })
    }

    /// The outcome of every limited descriptor: from Redis, or by the failure mode.
    async fn check_limited(
        &self,
        limited: &[Limited<'_>],
        cost: u64,
    ) -> (Vec<Outcome>, Option<FailureMode>) {
        if limited.is_empty() {
            return (Vec::new(), None);
        }
        // A request's descriptors have different hash tags: on a cluster they live on different
        // slots, so no single script may touch them all.
        if self.config.rls_per_descriptor || self.config.redis_mode == RedisMode::Cluster {
            let mut outcomes = Vec::with_capacity(limited.len());
            let mut degraded = None;
            for l in limited {
                match self.store.check(&l.user_key, l.policy, cost).await {
                    Ok(reply) => outcomes.push(reply.outcome),
                    Err(error) => {
                        tracing::debug!(%error, "rate-limit service deciding without redis");
                        degraded = Some(self.config.failure_mode);
                        outcomes.push(self.degraded_outcome(l, cost));
                    }
                }
            }
            return (outcomes, degraded);
        }
        let asks: Vec<RlsAsk<'_>> = limited
            .iter()
            .map(|l| RlsAsk {
                user_key: &l.user_key,
                policy: l.policy,
                shadow: l.rule.shadow_mode,
            })
            .collect();
        match self.store.check_rls(&asks, cost).await {
            Ok(reply) => (reply.outcomes, None),
            Err(error) => {
                tracing::debug!(%error, mode = %self.config.failure_mode, "rate-limit service deciding without redis");
                let outcomes = limited
                    .iter()
                    .map(|l| self.degraded_outcome(l, cost))
                    .collect();
                (outcomes, Some(self.config.failure_mode))
            }
        }
    }

    /// One descriptor decided without Redis, by the failure mode.
    fn degraded_outcome(&self, l: &Limited<'_>, cost: u64) -> Outcome {
        let mode = self.config.failure_mode;
        let outcome = match mode {
            FailureMode::Open => Outcome {
                allowed: true,
                reported: 0,
                retry_after_ms: 0,
                windows: l
                    .policy
                    .windows
                    .iter()
                    .map(|w| (w.limit.saturating_sub(cost), w.window_ms))
                    .collect(),
            },
            FailureMode::Closed => Outcome {
                allowed: false,
                reported: 0,
                retry_after_ms: l.policy.windows.first().map_or(1_000, |w| w.window_ms),
                windows: l.policy.windows.iter().map(|w| (0, w.window_ms)).collect(),
            },
            FailureMode::Local => {
                self.local
                    .decide(
                        &l.user_key,
                        l.policy,
                        cost,
                        self.up_nodes(),
                        self.clock_ms(),
                    )
                    .0
            }
        };
        self.metrics.count_failure(mode, outcome.allowed);
        outcome
    }

    /// The status of a limited descriptor, counted in the metrics.
    fn status_of(&self, l: &Limited<'_>, outcome: &Outcome, cost: u64, domain: &str) -> RlsStatus {
        let i = outcome
            .reported
            .min(outcome.windows.len().saturating_sub(1));
        let (remaining, reset_after_ms) = outcome.windows.get(i).copied().unwrap_or((0, 0));
        let limit = l.policy.windows.get(i).map_or(0, |w| w.limit);
        let shadowed = !outcome.allowed && l.rule.shadow_mode;
        let kind = match (outcome.allowed, shadowed) {
            (false, true) => HitKind::Shadow,
            (false, false) => HitKind::Over,
            (true, _) if remaining.saturating_mul(5) <= limit => HitKind::Near,
            (true, _) => HitKind::Within,
        };
        self.metrics.rls.record(domain, &l.metric, cost, kind);
        RlsStatus {
            code: if outcome.allowed || shadowed {
                RlsCode::Ok
            } else {
                RlsCode::OverLimit
            },
            limit: Some(l.rule.limit),
            policy: Some(l.policy.name.clone()),
            remaining,
            reset_after_ms,
            retry_after_ms: if outcome.allowed {
                0
            } else {
                outcome.retry_after_ms
            },
            shadowed,
        }
    }
}
