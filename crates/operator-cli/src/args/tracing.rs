//! [`TraceArgs`]: OpenTelemetry tracing of the monitor's ticks (`operator monitor`), turned into
//! an [`OtlpConfig`]: a `tick` span per tick, with what it checked and found.

use clap::Args;
use otlp_export::config::{OTEL_EXPORTER_OTLP_PROTOCOL, parse_sample_ratio};
use otlp_export::{OtlpConfig, Protocol};

use crate::exit::CliError;

/// Where the monitor's tick spans are exported.
#[derive(Debug, Clone, Args)]
pub struct TraceArgs {
    /// Export a span per monitor tick over OTLP to this collector (e.g. http://127.0.0.1:4317;
    /// with http/protobuf the base URL, /v1/traces is appended). Falls back to
    /// OTEL_EXPORTER_OTLP_ENDPOINT; tracing is off when neither is set.
    #[arg(long, env = "OPERATOR_OTLP_ENDPOINT", value_name = "URL")]
    pub otlp_endpoint: Option<String>,
    /// OTLP transport: grpc or http/protobuf.
    #[arg(
        long,
        env = OTEL_EXPORTER_OTLP_PROTOCOL,
        default_value_t = Protocol::Grpc,
        value_name = "PROTOCOL"
    )]
    pub otlp_protocol: Protocol,
    /// Share of ticks traced, from 0 to 1 (ticks are few: every one by default).
    #[arg(
        long,
        env = "OPERATOR_TRACE_SAMPLE_RATIO",
        default_value_t = 1.0,
        value_parser = parse_sample_ratio,
        allow_negative_numbers = true,
        value_name = "R"
    )]
    pub trace_sample_ratio: f64,
}

impl TraceArgs {
    /// The exporter's config, `None` when no endpoint is set (tracing off).
    ///
    /// # Errors
    /// A usage error naming `--otlp-endpoint` when the endpoint is not a URL.
    pub fn config(&self) -> Result<Option<OtlpConfig>, CliError> {
        OtlpConfig::from_flags(
            self.otlp_endpoint.clone(),
            self.otlp_protocol,
            self.trace_sample_ratio,
            "operator",
            |k| std::env::var(k).ok(),
        )
        .map_err(|e| CliError::flag("--otlp-endpoint (or OTEL_EXPORTER_OTLP_ENDPOINT)", e))
    }
}
