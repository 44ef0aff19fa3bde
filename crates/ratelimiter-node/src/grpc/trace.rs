//! The span of one `ShouldRateLimit` call (when decisions are traced), child of the caller's
//! `traceparent` gRPC metadata (Envoy propagates W3C trace context when configured to).
//!
//! Attributes: `node`, `domain`, `descriptors`, `cost`, `allowed` (the overall code is OK),
//! `policies` (those that applied, comma-separated), `failure_mode` (only when decided without
//! Redis), `cache_hit`, and `decision_time_us` (the whole decision, Redis included). Descriptor
//! values are not recorded at all (they are client identifiers).

use std::time::Duration;

use opentelemetry::trace::{Span as _, Status};
use opentelemetry::{Context, KeyValue};
use tonic::metadata::MetadataMap;

use crate::node::Node;
use crate::otel::to_i64;
use crate::rls::{RlsAnswer, RlsCode, RlsRequest, RlsRequestError};

/// The name of every `ShouldRateLimit` span.
pub const RLS_SPAN: &str = "should_rate_limit";

/// The caller's trace context in `metadata`, when tracing is on and it carries one.
pub(super) fn parent_of(node: &Node, metadata: &MetadataMap) -> Option<Context> {
    if !node.tracing_on() {
        return None;
    }
    let get = |name: &str| metadata.get(name).and_then(|v| v.to_str().ok());
    let traceparent = get("traceparent")?;
    Some(otlp_export::parent_context(
        Some(traceparent),
        get("tracestate"),
    ))
}

/// Records the call's attributes on `span` and ends it.
pub(super) fn end(
    mut span: otlp_export::SdkSpan,
    node: &Node,
    request: &RlsRequest,
    answer: &Result<RlsAnswer, RlsRequestError>,
    took: Duration,
) {
    let mut attrs = vec![
        KeyValue::new("node", node.config().node_id.clone()),
        KeyValue::new("domain", request.domain.clone()),
        KeyValue::new("descriptors", to_i64(request.descriptors.len() as u64)),
        KeyValue::new("cost", to_i64(request.cost())),
        KeyValue::new(
            "decision_time_us",
            i64::try_from(took.as_micros()).unwrap_or(i64::MAX),
        ),
    ];
    match answer {
        Ok(answer) => {
            let policies: Vec<&str> = answer
                .statuses
                .iter()
                .filter_map(|s| s.policy.as_deref())
                .collect();
            attrs.push(KeyValue::new("allowed", answer.overall == RlsCode::Ok));
            attrs.push(KeyValue::new("policies", policies.join(",")));
            // The near cache does not serve the rate-limit service.
            attrs.push(KeyValue::new("cache_hit", false));
            if let Some(mode) = answer.degraded {
                attrs.push(KeyValue::new("failure_mode", mode.as_str()));
            }
        }
        Err(e) => {
            attrs.push(KeyValue::new("error", e.to_string()));
            span.set_status(Status::error(e.to_string()));
        }
    }
    span.set_attributes(attrs);
    span.end();
}
