//! `--alertmanager-url`, `--webhook-url`, `--alertmanager-resend` and `--metrics-listen`: what a
//! long-running command (`monitor`, `agent`, `dashboard`) tells the outside, turned into
//! [`NotifyConfig`] and the metrics listener, started as [`Outlets`].

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;
use operator_notify::{NotifyConfig, Outlets};

use crate::args::default_text;
use crate::exit::CliError;

/// Notifications and the operator's own metrics.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Notifications and metrics")]
pub struct NotifyArgs {
    /// Push each open ticket as an alert to this Alertmanager (its base URL, e.g.
    /// `http://127.0.0.1:9093`; API v2): `alertname` = the invariant, labels subject, entity,
    /// severity; re-sent while firing, ended when resolved. Repeatable.
    #[arg(long = "alertmanager-url", value_name = "URL")]
    pub alertmanager_url: Vec<String>,
    /// Post a JSON body with a Slack-compatible `text` to this URL on each ticket change
    /// (opened, escalated, diagnosed, handed to a human, resolved). Repeatable. A URL holding a
    /// secret (Slack's do) is better passed in OPERATOR_WEBHOOK_URL (comma-separated): it is
    /// never printed, only its host.
    #[arg(
        long = "webhook-url",
        env = "OPERATOR_WEBHOOK_URL",
        hide_env_values = true,
        value_delimiter = ',',
        value_name = "URL"
    )]
    pub webhook_url: Vec<String>,
    /// How often firing alerts are re-sent to Alertmanager (each is valid for 4 times this, so
    /// it ends by itself if the operator stops).
    #[arg(long, default_value = default_text::duration(NotifyConfig::default().resend), value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub alertmanager_resend: Duration,
    /// Serve the operator's own metrics in Prometheus' text format at http://ADDR/metrics
    /// (ticks, observation durations, failed observations, open tickets, notifications, agent
    /// actions), e.g. `127.0.0.1:9464`.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
}

impl NotifyArgs {
    /// The notifier's configuration.
    ///
    /// # Errors
    /// A usage error naming the flag of a bad URL or interval.
    pub fn config(&self) -> Result<NotifyConfig, CliError> {
        let mut config = NotifyConfig::default().resend(self.alertmanager_resend);
        for url in &self.alertmanager_url {
            operator_notify::config::parse_url(url)
                .map_err(|e| CliError::flag("--alertmanager-url", e))?;
            config = config.alertmanager(url.clone());
        }
        for url in self
            .webhook_url
            .iter()
            .map(|u| u.trim())
            .filter(|u| !u.is_empty())
        {
            operator_notify::config::parse_url(url)
                .map_err(|e| CliError::flag("--webhook-url", e))?;
            config = config.webhook(url);
        }
        config
            .validate()
            .map_err(|e| CliError::flag("--alertmanager-resend", e))?;
        Ok(config)
    }

    /// Starts the notifier and the metrics endpoint (on the current Tokio runtime).
    ///
    /// # Errors
    /// A usage error naming the flag: a bad URL, or an address that cannot be listened on.
    pub fn start(&self) -> Result<Outlets, CliError> {
        let config = self.config()?;
        let listener = self
            .metrics_listen
            .map(|addr| {
                std::net::TcpListener::bind(addr).map_err(|e| {
                    CliError::flag("--metrics-listen", format!("cannot listen on {addr}: {e}"))
                })
            })
            .transpose()?;
        if let Some(l) = &listener
            && let Ok(addr) = l.local_addr()
        {
            tracing::info!(%addr, "metrics at /metrics");
        }
        Outlets::start(config, listener).map_err(|e| CliError::flag("--metrics-listen", e))
    }
}
