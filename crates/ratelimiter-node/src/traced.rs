//! [`Node::decide_traced`]: a decision inside its `tracing` span and, when tracing is on and
//! the sampler keeps it, its OpenTelemetry span ([`crate::otel`]) with its attributes (listed
//! there).

use opentelemetry::trace::{Span as _, Status};
use opentelemetry::{Context, KeyValue};
use ratelimiter_schema::fingerprint_identifier;
use ratelimiter_schema::policy::window_label;
use tracing::Instrument;
use tracing::field::Empty;

use crate::decide::{DecideError, Decision, RedisTiming};
use crate::node::Node;
use crate::otel::{DecisionSpan, to_i64};

impl Node {
    /// [`Node::decide`], its OpenTelemetry span (when tracing is on and it is sampled) a child
    /// of `parent`: the caller's trace context ([`otlp_export::parent_context`]).
    ///
    /// # Errors
    /// As [`Node::decide`].
    pub async fn decide_traced(
        &self,
        key: &str,
        cost: Option<u64>,
        parent: Option<&Context>,
    ) -> Result<Decision, DecideError> {
        let otel = self.tracer.start(parent);
        let mut redis = RedisTiming::default();
        // At debug level: under the default `info` filter the span is disabled, which costs a
        // cached check and evaluates none of its fields; `policy` and `allowed` are recorded as
        // they become known.
        let span = tracing::debug_span!(
            "decide",
            node = %self.config.node_id,
            policy = Empty,
            allowed = Empty,
        );
        let result = self
            .decide_in(&span, key, cost, &mut redis)
            .instrument(span.clone())
            .await;
        if let Some(otel) = otel {
            let decided = Decided {
                node: &self.config.node_id,
                key,
                secret: self.config.identifier_secret_bytes(),
                cost: cost.unwrap_or(1),
                redis,
            };
            otel.end(decided, &result);
        }
        result
    }
}

/// What a decision span reports besides the decision itself.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Decided<'a> {
    /// This node's id.
    pub(crate) node: &'a str,
    /// The key decided (an `api:` key already fingerprinted; anything else is fingerprinted here).
    pub(crate) key: &'a str,
    /// The identifier secret, for the fingerprint.
    pub(crate) secret: Option<&'a [u8]>,
    /// The cost asked for.
    pub(crate) cost: u64,
    /// Redis's part.
    pub(crate) redis: RedisTiming,
}

impl DecisionSpan {
    /// Records the decision's attributes (or its error) and ends the span.
    pub(crate) fn end(mut self, decided: Decided<'_>, result: &Result<Decision, DecideError>) {
        let mut attrs = Vec::with_capacity(14);
        attrs.push(KeyValue::new("node", decided.node.to_owned()));
        attrs.push(KeyValue::new(
            "key_fingerprint",
            fingerprint_identifier(decided.secret, decided.key),
        ));
        attrs.push(KeyValue::new("cost", to_i64(decided.cost)));
        if let Some(rtt) = decided.redis.round_trip {
            attrs.push(KeyValue::new(
                "redis_time_us",
                i64::try_from(rtt.as_micros()).unwrap_or(i64::MAX),
            ));
        }
        if let Some(now) = decided.redis.now_ms {
            attrs.push(KeyValue::new("redis_now_ms", to_i64(now)));
        }
        match result {
            Ok(d) => decision_attributes(d, &mut attrs),
            Err(e) => {
                attrs.push(KeyValue::new("error", e.to_string()));
                self.0.set_status(Status::error(e.to_string()));
            }
        }
        self.0.set_attributes(attrs);
        self.0.end();
    }
}

fn decision_attributes(d: &Decision, attrs: &mut Vec<KeyValue>) {
    let reported = d.reported();
    attrs.push(KeyValue::new("policy", d.policy.name.clone()));
    attrs.push(KeyValue::new("allowed", d.outcome.allowed));
    attrs.push(KeyValue::new(
        "window",
        window_label(reported.window.window_ms),
    ));
    attrs.push(KeyValue::new(
        "window_ms",
        to_i64(reported.window.window_ms),
    ));
    attrs.push(KeyValue::new("remaining", to_i64(reported.remaining)));
    attrs.push(KeyValue::new(
        "retry_after_ms",
        to_i64(d.outcome.retry_after_ms),
    ));
    attrs.push(KeyValue::new("cache_hit", cache_hit(d)));
    if let Some(mode) = d.degraded {
        attrs.push(KeyValue::new("failure_mode", mode.as_str()));
    }
}

/// Whether the decision was answered from the near cache (a cached denial or a lease).
fn cache_hit(decision: &Decision) -> bool {
    decision.cached.is_some()
}
