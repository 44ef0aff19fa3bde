//! Why tracing could not be set up.

/// A tracing set-up that failed (only ever at start, before anything is traced).
#[derive(Debug, thiserror::Error)]
pub enum OtlpError {
    /// The endpoint is not an `http://` or `https://` URL.
    #[error("endpoint {0:?} must be an http:// or https:// URL (e.g. http://127.0.0.1:4317)")]
    Endpoint(String),
    /// The sample ratio is not a number from 0 to 1.
    #[error("sample ratio {0} must be a number from 0 to 1")]
    SampleRatio(f64),
    /// The service name is empty.
    #[error("service name is empty")]
    ServiceName,
    /// The OTLP exporter could not be built.
    #[error("cannot build the OTLP exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
}
