//! The caller's trace context (W3C `traceparent` and `tracestate`) as a parent [`Context`].

use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry_sdk::propagation::TraceContextPropagator;

/// The two headers of W3C trace context, as they arrived (either may be absent).
struct Headers<'a> {
    traceparent: Option<&'a str>,
    tracestate: Option<&'a str>,
}

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            "traceparent" => self.traceparent,
            "tracestate" => self.tracestate,
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        vec!["traceparent", "tracestate"]
    }
}

/// The parent context a caller's `traceparent` (and `tracestate`) header names, or the empty
/// context (a root span follows) when it is absent or malformed, as W3C trace context says.
pub fn parent_context(traceparent: Option<&str>, tracestate: Option<&str>) -> Context {
    if traceparent.is_none() {
        return Context::new();
    }
    TraceContextPropagator::new().extract(&Headers {
        traceparent,
        tracestate,
    })
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::TraceContextExt;

    use super::*;

    #[test]
    fn a_traceparent_names_the_parent_span() {
        let cx = parent_context(
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            None,
        );
        let span = cx.span();
        let sc = span.span_context();
        assert!(sc.is_valid() && sc.is_remote() && sc.is_sampled());
        assert_eq!(
            sc.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(sc.span_id().to_string(), "00f067aa0ba902b7");
    }

    #[test]
    fn a_missing_or_malformed_traceparent_gives_no_parent() {
        for header in [None, Some("garbage"), Some("00-0000-00-01")] {
            let cx = parent_context(header, None);
            assert!(!cx.span().span_context().is_valid(), "{header:?}");
        }
    }
}
