//! The caller's W3C trace context (`traceparent`, `tracestate`), read only when decisions are
//! traced, so that a node without `--otlp-endpoint` does not even look at the headers.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use opentelemetry::Context;

use crate::node::Node;

/// The parent of a decision's span: the caller's trace context, when tracing is on and the
/// request carries a `traceparent`.
pub(super) fn parent_of(node: &Node, headers: &HeaderMap) -> Option<Context> {
    if !node.tracing_on() {
        return None;
    }
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let traceparent = get("traceparent")?;
    Some(otlp_export::parent_context(
        Some(traceparent),
        get("tracestate"),
    ))
}

/// [`parent_of`] as an extractor, for handlers that take no other headers; never rejects.
pub(super) struct TraceParent(pub(super) Option<Context>);

impl FromRequestParts<Arc<Node>> for TraceParent {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, node: &Arc<Node>) -> Result<Self, Infallible> {
        Ok(Self(parent_of(node, &parts.headers)))
    }
}
