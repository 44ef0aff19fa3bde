//! [`Notifier`]: the [`Book`] of one subject's alerts and the queues of its receivers. The
//! monitor's ticks and the agent's sessions go in; notices come out to every receiver's queue,
//! delivered by background tasks. Feeding it never waits on the network.

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use operator_core::TickReport;
use operator_core::agent::SessionReport;
use tokio::task::JoinHandle;

use crate::alertmanager::alerts_of;
use crate::book::{Book, Notice};
use crate::config::{NotifyConfig, parse_url, redacted};
use crate::deliver::{self, Payload, Queue};
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::receiver::ReceiverKind;
use crate::webhook::body_of;

/// Notifications of one subject's tickets to Alertmanager and webhooks.
pub struct Notifier {
    book: Book,
    config: NotifyConfig,
    queues: Vec<Queue>,
    tasks: Vec<JoinHandle<()>>,
    metrics: Arc<Metrics>,
}

impl Notifier {
    /// Starts one delivery task per receiver of `config` (on the current Tokio runtime),
    /// counting deliveries in `metrics`.
    ///
    /// # Errors
    /// When the configuration is invalid or the HTTP client cannot be built.
    pub fn start(config: NotifyConfig, metrics: Arc<Metrics>) -> Result<Self> {
        config.validate()?;
        let client = reqwest::Client::builder()
            .connect_timeout(config.request_timeout)
            .build()
            .map_err(Error::Client)?;
        let mut queues = Vec::new();
        let mut tasks = Vec::new();
        let receivers = config
            .alertmanagers
            .iter()
            .map(|u| (ReceiverKind::Alertmanager, u))
            .chain(config.webhooks.iter().map(|u| (ReceiverKind::Webhook, u)));
        for (kind, raw) in receivers {
            let mut url = parse_url(raw)?;
            if kind == ReceiverKind::Alertmanager {
                let base = url.path().trim_end_matches('/').to_owned();
                url.set_path(&format!("{base}/api/v2/alerts"));
            }
            metrics.receiver(kind);
            let (queue, task) = deliver::spawn(
                kind,
                url,
                redacted(raw),
                &config,
                client.clone(),
                Arc::clone(&metrics),
            );
            tracing::info!(receiver = %queue.shown, kind = kind.as_str(), "notifications enabled");
            queues.push(queue);
            tasks.push(task);
        }
        Ok(Self {
            book: Book::new(config.resend),
            config,
            queues,
            tasks,
            metrics,
        })
    }

    /// The alerts out.
    pub fn book(&self) -> &Book {
        &self.book
    }

    /// Takes in one tick of the monitor.
    pub fn tick(&mut self, report: &TickReport) {
        let notices = self.book.on_tick(report);
        self.send(&notices);
    }

    /// Takes in one session of the agent, finished at `at`.
    pub fn session(&mut self, report: &SessionReport, at: DateTime<Utc>) {
        let notices = self.book.on_session(report, at);
        self.send(&notices);
    }

    fn send(&self, notices: &[Notice]) {
        if notices.is_empty() {
            return;
        }
        for queue in &self.queues {
            match queue.kind {
                ReceiverKind::Alertmanager => {
                    let alerts: Vec<_> = notices
                        .iter()
                        .flat_map(|n| alerts_of(n, self.config.resend))
                        .collect();
                    queue.offer(Payload::Alerts(alerts), &self.metrics);
                }
                ReceiverKind::Webhook => {
                    for body in notices.iter().filter_map(body_of) {
                        queue.offer(Payload::Webhook(Box::new(body)), &self.metrics);
                    }
                }
            }
        }
    }

    /// Closes the queues and lets the delivery tasks finish what is queued, until `shutdown`
    /// completes; what is still undelivered then is abandoned.
    pub async fn finish(self, shutdown: impl Future<Output = ()>) {
        let Self { queues, tasks, .. } = self;
        drop(queues);
        let aborts: Vec<_> = tasks.iter().map(JoinHandle::abort_handle).collect();
        let all = async {
            for t in tasks {
                let _ = t.await;
            }
        };
        tokio::select! {
            () = all => {}
            () = shutdown => {
                for a in aborts {
                    a.abort();
                }
                tracing::warn!("notifications still queued at shutdown were abandoned");
            }
        }
    }
}
