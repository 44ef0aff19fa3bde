//! One rate-limit decision: the policy for the key, then Redis (as `--limiter-mode` says: one
//! atomic script, or a teaching mode that is not exact), or the failure mode.

use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use ratelimiter_schema::policy::window_label;
use ratelimiter_schema::{Algorithm, CheckResponse, FailureMode, LimiterMode, Policy, Window};
use tracing::Span;

use crate::algorithm::Outcome;
use crate::error::StoreError;
use crate::near::CacheHit;
use crate::near::path::NearAnswer;
use crate::node::Node;
use crate::store::CheckReply;

/// What Redis contributed to a decision, for its span.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct RedisTiming {
    /// How long the decision waited for Redis (absent when Redis was not asked).
    pub(crate) round_trip: Option<Duration>,
    /// Redis time of the decision, Unix ms (absent when Redis did not answer).
    pub(crate) now_ms: Option<u64>,
}

/// What deciding through Redis (or the near cache, or a teaching mode) gave: the cache hit if
/// any, the outcome, and Redis time when Redis answered.
type Checked = (Option<CacheHit>, Outcome, Option<u64>);

/// A decision, with what the answer and its headers report.
#[derive(Debug, Clone)]
pub struct Decision {
    /// The policy applied.
    pub policy: Policy,
    /// The windows as enforced (in the `local` failure mode: this node's share of each limit).
    pub windows: Vec<Window>,
    /// The outcome.
    pub outcome: Outcome,
    /// Set when decided without Redis.
    pub degraded: Option<FailureMode>,
    /// Set when the near cache answered (without Redis, exactly: see [`crate::near`]).
    pub cached: Option<CacheHit>,
}

/// The one window an answer reports (in its body and `X-RateLimit-*` headers), and its state
/// after the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reported {
    /// The window: the denying one on a denial (the longest wait), else the one with the least
    /// remaining.
    pub window: Window,
    /// Cost still available in that window after this decision.
    pub remaining: u64,
    /// Milliseconds until that window's fixed window ends.
    pub reset_after_ms: u64,
}

impl Decision {
    /// The `/v1/check` body of this decision, made by node `node_id` (also the body of a
    /// forward-auth answer and of the tower middleware's 429).
    pub fn check_response(&self, node_id: &str) -> CheckResponse {
        let reported = self.reported();
        CheckResponse {
            allowed: self.outcome.allowed,
            limit: self.quota(&reported.window),
            remaining: reported.remaining,
            reset_after_ms: reported.reset_after_ms,
            retry_after_ms: self.outcome.retry_after_ms,
            policy: self.policy.name.clone(),
            window: window_label(reported.window.window_ms),
            window_ms: reported.window.window_ms,
            node: node_id.to_owned(),
            degraded: self.degraded,
        }
    }

    /// The most a window holds: its limit, or under `gcra` its capacity (the burst), which is
    /// what `remaining` counts down from (`q` of the `RateLimit-Policy` header).
    pub fn quota(&self, window: &Window) -> u64 {
        match self.policy.algorithm {
            ratelimiter_schema::Algorithm::Gcra => window.capacity(),
            ratelimiter_schema::Algorithm::SlidingWindow => window.limit,
        }
    }

    /// The reported window and its state.
    pub fn reported(&self) -> Reported {
        let i = self
            .outcome
            .reported
            .min(self.windows.len().saturating_sub(1));
        let (remaining, reset_after_ms) = self.outcome.windows.get(i).copied().unwrap_or((0, 0));
        Reported {
            window: self.windows[i],
            remaining,
            reset_after_ms,
        }
    }
}

/// Why a request was not decided.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecideError {
    /// No policy matches the key (there is no `default`).
    #[error("no policy matches key and there is no default policy")]
    NoPolicy,
    /// The cost is 0 or larger than the smallest limit of the policy.
    #[error(
        "cost must be between 1 and {max} (the smallest limit of policy {policy:?}), got {got}"
    )]
    InvalidCost {
        /// The policy.
        policy: String,
        /// The largest cost allowed.
        max: u64,
        /// The cost given.
        got: u64,
    },
    /// Redis could not answer and the failure mode is `closed`.
    #[error("redis is unavailable and the failure mode is closed")]
    Unavailable,
}

impl Node {
    /// Decides a request of `cost` (default 1) for `key` (already validated as a key).
    ///
    /// # Errors
    /// [`DecideError`] for a request that cannot be decided.
    pub async fn decide(&self, key: &str, cost: Option<u64>) -> Result<Decision, DecideError> {
        self.decide_traced(key, cost, None).await
    }

    /// [`Node::decide`] inside its `span`.
    pub(crate) async fn decide_in(
        &self,
        span: &Span,
        key: &str,
        cost: Option<u64>,
        redis: &mut RedisTiming,
    ) -> Result<Decision, DecideError> {
        let start = Instant::now();
        // Before the policy: see `Node::set_policies`.
        let generation = self.near.as_ref().map(crate::near::NearCache::generation);
        let loaded = self.policies();
        let policy = loaded.set.select(key).ok_or(DecideError::NoPolicy)?.clone();
        drop(loaded);
        span.record("policy", tracing::field::display(&policy.name));
        let cost = cost.unwrap_or(1);
        let max = policy.min_limit();
        if cost == 0 || cost > max {
            return Err(DecideError::InvalidCost {
                policy: policy.name,
                max,
                got: cost,
            });
        }
        let guard = self.memory_guard.is_active();
        // The near cache, when on (atomic mode, sliding-window policies), answers or makes the
        // one Redis call itself; a GCRA policy always asks Redis.
        let asked = Instant::now();
        let checked: Result<Option<Checked>, StoreError> =
            match (self.config.limiter_mode, &self.near, generation) {
                (LimiterMode::Atomic, Some(near), Some(generation))
                    if policy.algorithm == Algorithm::SlidingWindow =>
                {
                    match self
                        .decide_near(near, key, &policy, cost, guard, generation)
                        .await
                    {
                        NearAnswer::Hit(kind, outcome) => Ok(Some((Some(kind), outcome, None))),
                        NearAnswer::Redis(r) => r.map(|o| o.map(|o| (None, o, None))),
                    }
                }
                (LimiterMode::Atomic, ..) => self
                    .store
                    .check_guarded(key, &policy, cost, guard)
                    .await
                    .map(|r| r.map(|r| (None, r.outcome, Some(r.redis_now_ms)))),
                (LimiterMode::Naive, ..) => self
                    .store
                    .check_naive(key, &policy, cost, guard)
                    .await
                    .map(|r| r.map(|r| (None, r.outcome, Some(r.redis_now_ms)))),
                (LimiterMode::Memory, ..) => Ok(Some((
                    None,
                    self.decide_in_memory(key, &policy, cost).outcome,
                    None,
                ))),
            };
        let cache_hit = matches!(checked, Ok(Some((Some(_), ..))));
        let memory = self.config.limiter_mode == LimiterMode::Memory;
        redis.round_trip = (!cache_hit && !memory).then(|| asked.elapsed());
        let result = match checked {
            Ok(None) => Ok(self.decide_guarded(key, policy, cost)),
            Ok(Some((cached, outcome, redis_now_ms))) => {
                redis.now_ms = redis_now_ms;
                let counter = if outcome.allowed {
                    &self.metrics.allowed
                } else {
                    &self.metrics.denied
                };
                counter.fetch_add(1, Relaxed);
                let windows = policy.windows.clone();
                Ok(Decision {
                    policy,
                    windows,
                    outcome,
                    degraded: None,
                    cached,
                })
            }
            Err(error) => {
                tracing::debug!(%error, mode = %self.config.failure_mode, "deciding without redis");
                self.decide_degraded(key, policy, cost)
            }
        };
        if let Ok(d) = &result {
            span.record("allowed", d.outcome.allowed);
            let reported = d.reported();
            if d.outcome.allowed
                && reported.remaining.saturating_mul(5) <= d.quota(&reported.window)
            {
                self.metrics.near_limit.fetch_add(1, Relaxed);
            }
        }
        self.metrics.observe_latency(start.elapsed());
        result
    }

    /// The teaching mode `memory`: decided by this process's own counters at the whole limit,
    /// by the node's clock, Redis not asked. Each node admits up to every limit by itself.
    fn decide_in_memory(&self, key: &str, policy: &Policy, cost: u64) -> CheckReply {
        let now_ms = self.clock_ms();
        let (outcome, _) = self.in_memory.decide(key, policy, cost, 1, now_ms);
        CheckReply {
            outcome,
            redis_now_ms: now_ms,
        }
    }

    /// A key with no counter while Redis is near `maxmemory`: decided in process at this
    /// node's share of each limit (never unlimited, never all denied), so the flood of unique
    /// keys creates no Redis key. Keys with a counter keep their exact shared limit.
    fn decide_guarded(&self, key: &str, policy: Policy, cost: u64) -> Decision {
        let (outcome, windows) =
            self.guard_local
                .decide(key, &policy, cost, self.up_nodes(), self.clock_ms());
        let counter = if outcome.allowed {
            &self.metrics.memory_guard_allowed
        } else {
            &self.metrics.memory_guard_denied
        };
        counter.fetch_add(1, Relaxed);
        Decision {
            policy,
            windows,
            outcome,
            degraded: Some(FailureMode::Local),
            cached: None,
        }
    }

    fn decide_degraded(
        &self,
        key: &str,
        policy: Policy,
        cost: u64,
    ) -> Result<Decision, DecideError> {
        let mode = self.config.failure_mode;
        match mode {
            FailureMode::Closed => {
                self.metrics.count_failure(mode, false);
                Err(DecideError::Unavailable)
            }
            FailureMode::Open => {
                self.metrics.count_failure(mode, true);
                let windows = policy.windows.clone();
                let per_window = windows
                    .iter()
                    .map(|w| (w.limit.saturating_sub(cost), w.window_ms))
                    .collect();
                let outcome = Outcome {
                    allowed: true,
                    reported: 0,
                    retry_after_ms: 0,
                    windows: per_window,
                };
                Ok(Decision {
                    policy,
                    windows,
                    outcome,
                    degraded: Some(mode),
                    cached: None,
                })
            }
            FailureMode::Local => {
                let (outcome, windows) =
                    self.local
                        .decide(key, &policy, cost, self.up_nodes(), self.clock_ms());
                self.metrics.count_failure(mode, outcome.allowed);
                Ok(Decision {
                    policy,
                    windows,
                    outcome,
                    degraded: Some(mode),
                    cached: None,
                })
            }
        }
    }
}
