//! One OpenTelemetry span per decision, exported over OTLP when the binary installs a tracer
//! (`--otlp-endpoint`, see the `otlp-export` crate).
//!
//! The span is made with the OpenTelemetry API directly rather than through `tracing`, so the
//! sampler runs first and a decision that is not sampled costs an id and a coin toss: no
//! attribute is built, no key is fingerprinted. A caller's W3C `traceparent` makes the span its
//! child and its sampled flag is followed.
//!
//! Attributes: `node`, `policy`, `cost`, `allowed`, `window` and `window_ms` (the reported
//! window), `remaining`, `retry_after_ms`, `failure_mode` (only when decided without Redis),
//! `cache_hit`, `redis_time_us` (the wait for Redis) and `redis_now_ms` (Redis time of the
//! decision), and `key_fingerprint`: the key only as its fingerprint, never in clear. A request
//! that could not be decided has an error status and an `error` attribute.

use std::sync::OnceLock;
use std::time::Duration;

use opentelemetry::trace::{Span as _, SpanKind, Status, Tracer as _};
use opentelemetry::{Context, KeyValue};
use otlp_export::{SdkSpan, Tracer};
use ratelimiter_schema::fingerprint_identifier;
use ratelimiter_schema::policy::window_label;

use crate::decide::{DecideError, Decision};

/// The name of every decision span.
pub const DECISION_SPAN: &str = "decide";

/// The node's tracer, once the binary has installed one ([`crate::Node::set_tracer`]).
#[derive(Debug, Default)]
pub(crate) struct DecisionTracer {
    tracer: OnceLock<Tracer>,
}

/// What Redis contributed to a decision, for its span.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct RedisTiming {
    /// How long the decision waited for Redis (absent when Redis was not asked).
    pub(crate) round_trip: Option<Duration>,
    /// Redis time of the decision, Unix ms (absent when Redis did not answer).
    pub(crate) now_ms: Option<u64>,
}

impl DecisionTracer {
    /// Installs `tracer`; whether it was the first (a second one is ignored).
    pub(crate) fn set(&self, tracer: Tracer) -> bool {
        self.tracer.set(tracer).is_ok()
    }

    /// Whether a tracer is installed (so callers may skip reading trace headers otherwise).
    pub(crate) fn is_on(&self) -> bool {
        self.tracer.get().is_some()
    }

    /// Starts the span of one decision, child of `parent` when given: `None` when tracing is
    /// off or the sampler drops this decision, so nothing more is spent on it.
    pub(crate) fn start(&self, parent: Option<&Context>) -> Option<DecisionSpan> {
        self.start_span(DECISION_SPAN, parent).map(DecisionSpan)
    }

    /// Starts a server span `name`, child of `parent` when given: `None` when tracing is off or
    /// the sampler drops it (the rate-limit service's spans start here too).
    pub(crate) fn start_span(
        &self,
        name: &'static str,
        parent: Option<&Context>,
    ) -> Option<SdkSpan> {
        let tracer = self.tracer.get()?;
        let root = Context::new();
        let span = tracer
            .span_builder(name)
            .with_kind(SpanKind::Server)
            .start_with_context(tracer, parent.unwrap_or(&root));
        span.is_recording().then_some(span)
    }
}

/// The span of one sampled decision, ended by [`DecisionSpan::end`].
#[derive(Debug)]
pub(crate) struct DecisionSpan(SdkSpan);

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

pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}
