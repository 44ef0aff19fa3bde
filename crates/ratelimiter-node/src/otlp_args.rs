//! The binary's tracing flags (declared by `main.rs`, not part of the library): where decision
//! spans are exported and how many are sampled.

use otlp_export::config::{DEFAULT_SAMPLE_RATIO, OTEL_EXPORTER_OTLP_PROTOCOL, parse_sample_ratio};
use otlp_export::{OtlpConfig, Protocol};

/// Flags of OpenTelemetry tracing (README "Tracing (OpenTelemetry)").
#[derive(Debug, clap::Args)]
pub(crate) struct OtlpArgs {
    /// Export a span per decision over OTLP to this collector (e.g. http://127.0.0.1:4317; with
    /// http/protobuf the base URL, /v1/traces is appended). Falls back to
    /// OTEL_EXPORTER_OTLP_ENDPOINT; tracing is off when neither is set.
    #[arg(long, env = "RATELIMITER_OTLP_ENDPOINT", value_name = "URL")]
    otlp_endpoint: Option<String>,
    /// OTLP transport: grpc or http/protobuf.
    #[arg(
        long,
        env = OTEL_EXPORTER_OTLP_PROTOCOL,
        default_value_t = Protocol::Grpc,
        value_name = "PROTOCOL"
    )]
    otlp_protocol: Protocol,
    /// Share of decisions traced, from 0 to 1; a caller's `traceparent` decides for its own
    /// requests (its sampled flag is followed).
    #[arg(
        long,
        env = "RATELIMITER_TRACE_SAMPLE_RATIO",
        default_value_t = DEFAULT_SAMPLE_RATIO,
        value_parser = parse_sample_ratio,
        allow_negative_numbers = true,
        value_name = "R"
    )]
    trace_sample_ratio: f64,
}

impl OtlpArgs {
    /// The exporter's config, `None` when no endpoint is set (tracing off).
    ///
    /// # Errors
    /// A message naming `--otlp-endpoint` when the endpoint is not a URL.
    pub(crate) fn config(&self) -> Result<Option<OtlpConfig>, String> {
        OtlpConfig::from_flags(
            self.otlp_endpoint.clone(),
            self.otlp_protocol,
            self.trace_sample_ratio,
            "ratelimiter-node",
            |k| std::env::var(k).ok(),
        )
        .map_err(|e| format!("--otlp-endpoint (or OTEL_EXPORTER_OTLP_ENDPOINT): {e}"))
    }
}
