//! [`install`]: the tracer provider, its batch exporter and sampler; [`OtlpGuard`] to use and
//! flush it.

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::runtime::Tokio;
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use opentelemetry_sdk::trace::{BatchConfigBuilder, Sampler, SdkTracer, SdkTracerProvider};
use tracing::Subscriber;
use tracing_opentelemetry::OpenTelemetryLayer;
use tracing_subscriber::registry::LookupSpan;

use crate::config::{OtlpConfig, Protocol};
use crate::error::OtlpError;
use crate::quiet::QuietExporter;

/// The longest [`OtlpGuard::shutdown`] waits for the last export, beyond the export timeout.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// Builds the tracer provider `config` describes: spans sampled at the root by
/// `sample_ratio` (a parent's decision is followed), queued and exported in batches by a task
/// on the current Tokio runtime. Must be called inside a Tokio runtime.
///
/// Nothing is connected here: a collector that is down is found at the first export, logged
/// (at most once a minute), and never delays the traced code.
///
/// # Errors
/// [`OtlpError`] for a config that does not validate or an exporter that cannot be built.
pub fn install(config: &OtlpConfig) -> Result<OtlpGuard, OtlpError> {
    config.validate()?;
    let url = config.export_url();
    let exporter = match config.protocol {
        Protocol::Grpc => opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(url.clone())
            .with_timeout(config.export_timeout)
            .build()?,
        Protocol::HttpProtobuf => opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_endpoint(url.clone())
            .with_timeout(config.export_timeout)
            .build()?,
    };
    let batch = BatchConfigBuilder::default()
        .with_max_queue_size(config.max_queue_size)
        .with_scheduled_delay(config.scheduled_delay)
        .with_max_export_timeout(config.export_timeout)
        .build();
    let processor = BatchSpanProcessor::builder(QuietExporter::new(exporter, url.clone()), Tokio)
        .with_batch_config(batch)
        .build();
    let sampler = Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(config.sample_ratio)));
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_sampler(sampler)
        .with_resource(
            Resource::builder()
                .with_service_name(config.service_name.clone())
                .build(),
        )
        .build();
    let tracer = provider.tracer(config.service_name.clone());
    tracing::info!(
        endpoint = %url,
        protocol = %config.protocol,
        sample_ratio = config.sample_ratio,
        "exporting traces over OTLP"
    );
    Ok(OtlpGuard {
        provider,
        tracer,
        export_timeout: config.export_timeout,
    })
}

/// The installed tracer provider. Hand out its [`tracer`](Self::tracer) or its
/// [`layer`](Self::layer); call [`shutdown`](Self::shutdown) on graceful shutdown so the spans
/// still queued are exported.
#[derive(Debug)]
#[must_use = "spans queued at exit are lost unless the guard is shut down"]
pub struct OtlpGuard {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
    export_timeout: Duration,
}

impl OtlpGuard {
    /// The tracer, for spans made with the OpenTelemetry API directly (cheap to clone).
    pub fn tracer(&self) -> SdkTracer {
        self.tracer.clone()
    }

    /// A `tracing` layer exporting `tracing` spans through this provider (its events become span
    /// events). Give it a per-layer filter to choose which spans are exported.
    pub fn layer<S>(&self) -> OpenTelemetryLayer<S, SdkTracer>
    where
        S: Subscriber + for<'span> LookupSpan<'span>,
    {
        tracing_opentelemetry::layer().with_tracer(self.tracer.clone())
    }

    /// Exports the queued spans and stops the exporter, waiting at most the export timeout and a
    /// second; a collector that does not answer costs that wait, no more, and is logged.
    pub async fn shutdown(self) {
        let provider = self.provider;
        // The provider's shutdown blocks its thread until the batch task has flushed; that task
        // runs on the runtime, so the blocking wait goes to a blocking thread.
        let flush = tokio::task::spawn_blocking(move || provider.shutdown());
        match tokio::time::timeout(self.export_timeout + SHUTDOWN_GRACE, flush).await {
            Ok(Ok(Ok(()))) => tracing::debug!("trace export flushed"),
            Ok(Ok(Err(error))) => tracing::warn!(%error, "trace export did not flush"),
            Ok(Err(error)) => tracing::warn!(%error, "trace export flush panicked"),
            Err(_) => tracing::warn!("trace export did not flush in time"),
        }
    }
}
