//! Delivery to one receiver: a bounded queue, drained by a background task that posts each
//! message with retries and backoff. Nothing here ever makes the caller wait: a full queue drops
//! the message (counted, logged).

use std::sync::Arc;

use reqwest::{StatusCode, Url};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::alertmanager::AmAlert;
use crate::config::NotifyConfig;
use crate::metrics::{Delivery, Metrics};
use crate::receiver::ReceiverKind;
use crate::webhook::WebhookBody;

/// One message for a receiver.
#[derive(Debug, Clone)]
pub(crate) enum Payload {
    /// Alerts for Alertmanager (waiting ones are merged into one request).
    Alerts(Vec<AmAlert>),
    /// One webhook body.
    Webhook(Box<WebhookBody>),
}

impl Payload {
    /// The notifications it carries.
    fn count(&self) -> u64 {
        match self {
            Payload::Alerts(a) => a.len() as u64,
            Payload::Webhook(_) => 1,
        }
    }
}

/// The sending end of one receiver's queue.
pub(crate) struct Queue {
    pub(crate) kind: ReceiverKind,
    /// The URL as logs may show it.
    pub(crate) shown: String,
    tx: mpsc::Sender<Payload>,
}

impl Queue {
    /// Queues `payload` without waiting; a full queue drops it, counted and logged.
    pub(crate) fn offer(&self, payload: Payload, metrics: &Metrics) {
        let n = payload.count();
        if self.tx.try_send(payload).is_err() {
            metrics.delivery(self.kind, Delivery::Dropped, n);
            tracing::warn!(receiver = %self.shown, notifications = n, "notification queue full; dropped");
        }
    }
}

/// Starts the background task delivering to `url` (the full endpoint).
pub(crate) fn spawn(
    kind: ReceiverKind,
    url: Url,
    shown: String,
    config: &NotifyConfig,
    client: reqwest::Client,
    metrics: Arc<Metrics>,
) -> (Queue, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(config.queue);
    let worker = Worker {
        kind,
        url,
        shown: shown.clone(),
        config: config.clone(),
        client,
        metrics,
    };
    let task = tokio::spawn(worker.run(rx));
    (Queue { kind, shown, tx }, task)
}

struct Worker {
    kind: ReceiverKind,
    url: Url,
    shown: String,
    config: NotifyConfig,
    client: reqwest::Client,
    metrics: Arc<Metrics>,
}

impl Worker {
    /// Delivers messages until the queue is closed and empty.
    async fn run(self, mut rx: mpsc::Receiver<Payload>) {
        while let Some(first) = rx.recv().await {
            let payload = match first {
                // Alerts waiting behind each other go in one request, in order (a later state of
                // the same alert wins in Alertmanager).
                Payload::Alerts(mut alerts) => {
                    while let Ok(Payload::Alerts(more)) = rx.try_recv() {
                        alerts.extend(more);
                    }
                    Payload::Alerts(alerts)
                }
                other => other,
            };
            let n = payload.count();
            match self.deliver(&payload).await {
                Ok(()) => self.metrics.delivery(self.kind, Delivery::Sent, n),
                Err(e) => {
                    self.metrics.delivery(self.kind, Delivery::Failed, n);
                    tracing::warn!(receiver = %self.shown, notifications = n, error = %e, "notification failed");
                }
            }
        }
    }

    /// Posts `payload`, retrying network errors, 429 and 5xx answers with backoff.
    async fn deliver(&self, payload: &Payload) -> Result<(), String> {
        let mut last = String::new();
        for attempt in 1..=self.config.attempts {
            if attempt > 1 {
                tokio::time::sleep(self.config.backoff_before(attempt)).await;
            }
            let request = self
                .client
                .post(self.url.clone())
                .timeout(self.config.request_timeout);
            let request = match payload {
                Payload::Alerts(a) => request.json(a),
                Payload::Webhook(b) => request.json(b),
            };
            match request.send().await {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) if retryable(r.status()) => last = format!("answered {}", r.status()),
                Ok(r) => {
                    let status = r.status();
                    let body: String = r
                        .text()
                        .await
                        .unwrap_or_default()
                        .chars()
                        .take(200)
                        .collect();
                    return Err(format!("answered {status}: {body}"));
                }
                Err(e) => last = describe(e),
            }
            tracing::debug!(receiver = %self.shown, attempt, error = %last, "notification attempt failed");
        }
        Err(format!("{} attempts: {last}", self.config.attempts))
    }
}

fn retryable(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

/// The error without its URL (a webhook's path is its secret).
fn describe(e: reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "connection failed".to_owned()
    } else {
        e.without_url().to_string()
    }
}
