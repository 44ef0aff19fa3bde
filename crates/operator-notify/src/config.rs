//! [`NotifyConfig`]: where notifications go and how hard delivery tries.

use std::time::Duration;

use reqwest::Url;

use crate::error::{Error, Result};

/// Where notifications go and how they are delivered. Build with [`Default`] and the
/// `#[must_use]` setters; [`validate`](Self::validate) once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyConfig {
    /// Alertmanager base URLs (`http://host:9093`); alerts go to `<url>/api/v2/alerts`.
    pub alertmanagers: Vec<String>,
    /// Webhook URLs, each posted a JSON body per change.
    pub webhooks: Vec<String>,
    /// How often firing alerts are re-sent to Alertmanager (Prometheus' `--rules.alert.resend-delay`,
    /// 1 minute by default). A firing alert is valid for 4 times this.
    pub resend: Duration,
    /// Messages waiting per receiver, at most; more are dropped (and counted), never waited for.
    pub queue: usize,
    /// Attempts per message, the first included.
    pub attempts: u32,
    /// Wait before the first retry; doubled at each retry up to [`max_backoff`](Self::max_backoff).
    pub backoff: Duration,
    /// Longest wait between two attempts.
    pub max_backoff: Duration,
    /// Longest one request may take.
    pub request_timeout: Duration,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            alertmanagers: Vec::new(),
            webhooks: Vec::new(),
            resend: Duration::from_secs(60),
            queue: 256,
            attempts: 5,
            backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            request_timeout: Duration::from_secs(5),
        }
    }
}

impl NotifyConfig {
    /// Adds an Alertmanager.
    #[must_use]
    pub fn alertmanager(mut self, url: impl Into<String>) -> Self {
        self.alertmanagers.push(url.into());
        self
    }

    /// Adds a webhook.
    #[must_use]
    pub fn webhook(mut self, url: impl Into<String>) -> Self {
        self.webhooks.push(url.into());
        self
    }

    /// Sets the re-send interval.
    #[must_use]
    pub fn resend(mut self, every: Duration) -> Self {
        self.resend = every;
        self
    }

    /// Whether any receiver is configured.
    pub fn any(&self) -> bool {
        !self.alertmanagers.is_empty() || !self.webhooks.is_empty()
    }

    /// Checks the configuration.
    ///
    /// # Errors
    /// [`Error::InvalidUrl`] naming a URL that is not `http(s)://`, [`Error::InvalidConfig`]
    /// for a zero interval, queue or attempt count.
    pub fn validate(&self) -> Result<()> {
        for url in self.alertmanagers.iter().chain(&self.webhooks) {
            parse_url(url)?;
        }
        if self.resend.is_zero() {
            return Err(Error::InvalidConfig(
                "re-send interval must be greater than zero".into(),
            ));
        }
        if self.queue == 0 || self.attempts == 0 {
            return Err(Error::InvalidConfig(
                "queue and attempts must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// The wait before attempt `attempt` (2 for the first retry): the backoff doubled at each
    /// retry, at most [`max_backoff`](Self::max_backoff).
    pub fn backoff_before(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(2).min(20);
        self.backoff
            .saturating_mul(1 << doublings)
            .min(self.max_backoff)
    }
}

/// Parses a receiver URL: `http` or `https` with a host.
///
/// # Errors
/// [`Error::InvalidUrl`], naming the URL without its path or credentials.
pub fn parse_url(url: &str) -> Result<Url> {
    let parsed = Url::parse(url).map_err(|e| Error::InvalidUrl {
        url: redacted(url),
        reason: e.to_string(),
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(Error::InvalidUrl {
            url: redacted(url),
            reason: "expected http:// or https:// and a host".into(),
        });
    }
    Ok(parsed)
}

/// A URL as it may be printed: scheme, host and port only. A webhook URL's path is often its
/// secret (Slack's are), and credentials may sit before the host.
pub fn redacted(url: &str) -> String {
    match Url::parse(url) {
        Ok(u) => match (u.host_str(), u.port()) {
            (Some(h), Some(p)) => format!("{}://{h}:{p}/…", u.scheme()),
            (Some(h), None) => format!("{}://{h}/…", u.scheme()),
            _ => "<url>".to_owned(),
        },
        Err(_) => "<not a URL>".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let c = NotifyConfig::default();
        let waits: Vec<u64> = (2..=7)
            .map(|a| c.backoff_before(a).as_millis() as u64)
            .collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 8000, 8000]);
    }

    #[test]
    fn urls_are_checked_and_printed_without_their_secrets() {
        assert!(parse_url("http://127.0.0.1:9093").is_ok());
        let e = parse_url("ftp://example.com/x").unwrap_err().to_string();
        assert!(e.contains("ftp://example.com/…"), "{e}");
        assert!(parse_url("not a url").is_err());
        assert_eq!(
            redacted("https://hooks.slack.com/services/T000/B000/SECRET"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(redacted("http://u:pw@h:81/p"), "http://h:81/…");
        let bad = NotifyConfig::default().webhook("http://").validate();
        assert!(bad.is_err());
        assert!(
            NotifyConfig::default()
                .resend(Duration::ZERO)
                .validate()
                .is_err()
        );
    }
}
