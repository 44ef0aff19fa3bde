//! [`RlsGrpc`]: the `RateLimitService` implementation over a [`Node`].

use std::sync::Arc;
use std::time::Instant;

use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_service_server::RateLimitService;
use envoy_types::pb::envoy::service::ratelimit::v3::{RateLimitRequest, RateLimitResponse};
use tonic::{Request, Response, Status};

use crate::grpc::convert::{request_from_proto, response_to_proto};
use crate::grpc::trace;
use crate::node::Node;

/// Envoy's `RateLimitService` over a node.
#[derive(Debug, Clone)]
pub struct RlsGrpc {
    node: Arc<Node>,
}

impl RlsGrpc {
    /// The service of `node`.
    pub fn new(node: Arc<Node>) -> Self {
        Self { node }
    }
}

#[tonic::async_trait]
impl RateLimitService for RlsGrpc {
    async fn should_rate_limit(
        &self,
        request: Request<RateLimitRequest>,
    ) -> Result<Response<RateLimitResponse>, Status> {
        let parent = trace::parent_of(&self.node, request.metadata());
        let span = self
            .node
            .tracer
            .start_span(trace::RLS_SPAN, parent.as_ref());
        let request = request_from_proto(request.into_inner());
        let started = Instant::now();
        let answer = self.node.should_rate_limit(&request).await;
        if let Some(span) = span {
            trace::end(span, &self.node, &request, &answer, started.elapsed());
        }
        let answer = answer.map_err(|e| Status::invalid_argument(e.to_string()))?;
        Ok(Response::new(response_to_proto(
            &answer,
            self.node.config().rls_response_headers,
        )))
    }
}
