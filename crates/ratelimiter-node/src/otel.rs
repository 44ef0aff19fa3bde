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

use opentelemetry::Context;
use opentelemetry::trace::{Span as _, SpanKind, Tracer as _};
use otlp_export::{SdkSpan, Tracer};

/// The name of every decision span.
pub const DECISION_SPAN: &str = "decide";

/// The node's tracer, once the binary has installed one ([`crate::Node::set_tracer`]).
#[derive(Debug, Default)]
pub(crate) struct DecisionTracer {
    tracer: OnceLock<Tracer>,
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
pub(crate) struct DecisionSpan(pub(crate) SdkSpan);

pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}
