//! [`Outlets`]: everything a long-running command tells the outside, started together — the
//! [`Notifier`] (when a receiver is configured) and the metrics endpoint (when a listener is
//! given), with one [`Metrics`] registry — fed by the command's ticks and sessions, and stopped
//! together.

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use operator_core::TickReport;
use operator_core::agent::SessionReport;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::NotifyConfig;
use crate::error::Result;
use crate::metrics::{self, Metrics};
use crate::notifier::Notifier;

/// The notifier and the metrics endpoint of one command.
pub struct Outlets {
    notifier: Option<Notifier>,
    metrics: Arc<Metrics>,
    server: Option<(oneshot::Sender<()>, JoinHandle<std::io::Result<()>>)>,
}

impl Outlets {
    /// Starts the notifier when `config` names a receiver, and serves the metrics on `listener`
    /// when given (on the current Tokio runtime).
    ///
    /// # Errors
    /// When the configuration is invalid, or the listener cannot be handed to Tokio.
    pub fn start(config: NotifyConfig, listener: Option<std::net::TcpListener>) -> Result<Self> {
        let metrics = Arc::new(Metrics::new());
        let notifier = if config.any() {
            Some(Notifier::start(config, Arc::clone(&metrics))?)
        } else {
            config.validate()?;
            None
        };
        let server = match listener {
            Some(l) => {
                l.set_nonblocking(true)?;
                let l = tokio::net::TcpListener::from_std(l)?;
                let (stop, stopped) = oneshot::channel::<()>();
                let task = tokio::spawn(metrics::serve(l, Arc::clone(&metrics), async {
                    let _ = stopped.await;
                }));
                Some((stop, task))
            }
            None => None,
        };
        Ok(Self {
            notifier,
            metrics,
            server,
        })
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Takes in one tick of the monitor.
    pub fn tick(&mut self, report: &TickReport) {
        self.metrics.tick(report);
        if let Some(n) = &mut self.notifier {
            n.tick(report);
        }
    }

    /// Takes in one session of the agent on `subject`, finished at `at`.
    pub fn session(&mut self, subject: &str, report: &SessionReport, at: DateTime<Utc>) {
        self.metrics.session(subject, report);
        if let Some(n) = &mut self.notifier {
            n.session(report, at);
        }
    }

    /// Stops the metrics endpoint and lets queued notifications go out until `shutdown`
    /// completes.
    pub async fn finish(self, shutdown: impl Future<Output = ()>) {
        if let Some((stop, task)) = self.server {
            let _ = stop.send(());
            let _ = task.await;
        }
        if let Some(n) = self.notifier {
            n.finish(shutdown).await;
        }
    }
}
