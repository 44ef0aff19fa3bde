//! An exporter that reports its failures at most once a minute.
//!
//! A collector that is down fails every export (once a second with the default schedule); a log
//! line each time would flood the traced process's logs for as long as the outage lasts. This
//! wrapper counts the spans lost and says so in one `warn` event per [`WARN_EVERY`], and once
//! when exports succeed again.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use tokio::time::Instant;

/// The shortest interval between two warnings about failed exports.
pub(crate) const WARN_EVERY: Duration = Duration::from_secs(60);

/// `inner`, with its failures counted and logged at most once per [`WARN_EVERY`].
#[derive(Debug)]
pub(crate) struct QuietExporter<E> {
    inner: E,
    endpoint: String,
    /// Spans lost since the last warning.
    lost: AtomicU64,
    /// Whether the last export failed (to say once when it recovers).
    failing: AtomicBool,
    last_warning: Mutex<Option<Instant>>,
}

impl<E> QuietExporter<E> {
    pub(crate) fn new(inner: E, endpoint: String) -> Self {
        Self {
            inner,
            endpoint,
            lost: AtomicU64::new(0),
            failing: AtomicBool::new(false),
            last_warning: Mutex::new(None),
        }
    }

    fn failed(&self, spans: usize, error: &dyn std::fmt::Display) {
        self.failing.store(true, Relaxed);
        let lost = self.lost.fetch_add(spans as u64, Relaxed) + spans as u64;
        // A poisoned lock only means another export panicked mid-update: the time is still usable.
        let mut last = self
            .last_warning
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        if last.is_none_or(|t| now.duration_since(t) >= WARN_EVERY) {
            *last = Some(now);
            self.lost.store(0, Relaxed);
            tracing::warn!(
                endpoint = %self.endpoint,
                error = %error,
                lost_spans = lost,
                "span export failed (repeats are counted, next warning in a minute at most)"
            );
        }
    }

    fn succeeded(&self) {
        if self.failing.swap(false, Relaxed) {
            tracing::info!(endpoint = %self.endpoint, "span export recovered");
        }
    }
}

impl<E: SpanExporter> SpanExporter for QuietExporter<E> {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        let spans = batch.len();
        let export = self.inner.export(batch);
        async move {
            let result = export.await;
            match &result {
                Ok(()) => self.succeeded(),
                Err(e) => self.failed(spans, e),
            }
            result
        }
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}
