//! Envoy's rate-limit service (`envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit`)
//! and the standard `grpc.health.v1` service over gRPC (tonic), optionally over TLS.
//!
//! - `service`: [`RlsGrpc`], the tonic service: a request is checked
//!   ([`crate::rls::RlsRequest::validate`], `INVALID_ARGUMENT` when malformed), decided by
//!   [`crate::Node::should_rate_limit`] (Redis trouble is never a gRPC error: the failure mode
//!   answers), and converted back.
//! - `convert`: the protobuf types of `envoy-types` to and from [`crate::rls`]'s, and the
//!   RateLimit headers of `--rls-response-headers`.
//! - `server`: [`serve_grpc`] on a listener until shutdown.
//! - `trace`: the span of each call when decisions are traced (`should_rate_limit`, child of the
//!   caller's `traceparent` metadata).

mod convert;
mod server;
mod service;
mod trace;

pub use server::{GrpcError, serve_grpc};
pub use service::RlsGrpc;
