//! [`serve_grpc`]: the rate-limit and health services on a listener until shutdown.

use std::future::Future;
use std::sync::Arc;

use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_service_server::RateLimitServiceServer;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, Server, ServerTlsConfig};

use crate::grpc::service::RlsGrpc;
use crate::node::Node;

/// Why the gRPC server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum GrpcError {
    /// A TLS file cannot be read.
    #[error("cannot read {flag} {path}: {source}")]
    TlsRead {
        /// The flag naming the file.
        flag: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The transport failed (a bad certificate, the listener).
    #[error("grpc server: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Serves `envoy.service.ratelimit.v3.RateLimitService` and `grpc.health.v1.Health` for `node`
/// on `listener` (over TLS with the node's `grpc_tls` files) until `shutdown` completes.
///
/// # Errors
/// [`GrpcError`] when the TLS files cannot be read or used, or the transport fails.
pub async fn serve_grpc(
    listener: TcpListener,
    node: Arc<Node>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), GrpcError> {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_serving::<RateLimitServiceServer<RlsGrpc>>()
        .await;
    let mut builder = Server::builder();
    if let Some((cert, key)) = &node.config().grpc_tls {
        let read = |flag: &'static str, path: &std::path::Path| {
            std::fs::read(path).map_err(|source| GrpcError::TlsRead {
                flag,
                path: path.to_owned(),
                source,
            })
        };
        let identity = Identity::from_pem(read("--grpc-tls-cert", cert)?, read("--grpc-tls-key", key)?);
        builder = builder.tls_config(ServerTlsConfig::new().identity(identity))?;
    }
    let addr = listener.local_addr().ok();
    tracing::info!(addr = ?addr, tls = node.config().grpc_tls.is_some(), "serving grpc (envoy rate-limit service)");
    builder
        .add_service(health)
        .add_service(RateLimitServiceServer::new(RlsGrpc::new(node)))
        .serve_with_incoming_shutdown(TcpIncoming::from(listener).with_nodelay(Some(true)), shutdown)
        .await?;
    Ok(())
}
