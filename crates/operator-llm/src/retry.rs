//! Sending one request with retries: timeouts, 429 and 5xx answers are retried after the wait the
//! provider asks for (`retry-after`, `retry-after-ms`) or an exponential backoff with jitter;
//! every attempt is recorded as an [`Exchange`].

use std::time::{Duration, SystemTime};

use chrono::Utc;
use operator_core::diagnosis::Exchange;
use operator_core::ticket::digest;
use reqwest::header::HeaderMap;
use serde_json::Value;
use tokio::time::Instant;

use crate::config::LlmConfig;
use crate::error::Error;

/// One model endpoint.
pub(crate) struct Endpoint<'a> {
    /// `anthropic` or `openai`.
    pub provider: &'a str,
    /// The configuration.
    pub config: &'a LlmConfig,
    /// The client, built from the configuration.
    pub client: &'a reqwest::Client,
    /// Full URL.
    pub url: String,
    /// Headers besides `content-type` (keys included: never recorded).
    pub headers: Vec<(&'static str, String)>,
    /// Reads `(error type, message)` from an error body.
    pub error_of: fn(&Value) -> Option<(String, String)>,
}

impl Endpoint<'_> {
    /// POSTs `body`, retrying transient failures; returns the successful answer's body.
    ///
    /// # Errors
    /// The last failure, when it is not transient or the retries are spent, or when the
    /// provider asks to wait longer than [`LlmConfig::max_backoff`].
    pub(crate) async fn post(
        &self,
        body: &Value,
        exchanges: &mut Vec<Exchange>,
    ) -> Result<String, Error> {
        let text = serde_json::to_string(body).map_err(|e| Error::Protocol(e.to_string()))?;
        let attempts = self.config.max_retries.saturating_add(1);
        for attempt in 1..=attempts {
            let started = Instant::now();
            let at = Utc::now();
            let result = self.send(&text).await;
            let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            exchanges.push(Exchange {
                provider: self.provider.to_owned(),
                model: self.config.model.clone(),
                at,
                attempt,
                status: match &result {
                    Ok(_) => Some(200),
                    Err(Error::Status { status, .. }) => Some(*status),
                    Err(_) => None,
                },
                duration_ms,
                request: if attempt == 1 {
                    text.clone()
                } else {
                    format!("(the request of attempt 1, {})", digest(&text))
                },
                response: match &result {
                    Ok(body) => body.clone(),
                    Err(e) => e.to_string(),
                },
            });
            let error = match result {
                Ok(body) => return Ok(body),
                Err(e) => e,
            };
            if !error.is_transient() || attempt == attempts {
                return Err(error);
            }
            let wait = error
                .retry_after()
                .unwrap_or_else(|| backoff(self.config.initial_backoff, attempt));
            if wait > self.config.max_backoff {
                tracing::warn!(
                    provider = self.provider,
                    wait_ms = wait.as_millis(),
                    "asked to wait longer than the retry cap; giving up"
                );
                return Err(error);
            }
            tracing::warn!(provider = self.provider, attempt, error = %error, wait_ms = wait.as_millis(), "model request failed; retrying");
            tokio::time::sleep(wait).await;
        }
        Err(Error::Protocol("no attempt made".into()))
    }

    async fn send(&self, body: &str) -> Result<String, Error> {
        let mut req = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_owned());
        for (name, value) in &self.headers {
            req = req.header(*name, value);
        }
        let resp = req.send().await.map_err(|e| self.transport(&e))?;
        let status = resp.status().as_u16();
        let retry_after = retry_after(resp.headers());
        let text = resp.text().await.map_err(|e| self.transport(&e))?;
        if (200..300).contains(&status) {
            return Ok(text);
        }
        let (kind, message) = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| (self.error_of)(&v))
            .unwrap_or_else(|| (String::new(), text.chars().take(300).collect()));
        Err(Error::Status {
            status,
            kind,
            message,
            retry_after,
        })
    }

    fn transport(&self, e: &reqwest::Error) -> Error {
        if e.is_timeout() {
            Error::Timeout(self.config.timeout)
        } else {
            let mut s = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(cause) = source {
                s.push_str(": ");
                s.push_str(&cause.to_string());
                source = cause.source();
            }
            Error::Transport(s)
        }
    }
}

/// `retry-after-ms`, else `retry-after` in seconds or as an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return (ms >= 0.0).then(|| Duration::from_secs_f64(ms / 1000.0));
    }
    let v = get("retry-after")?;
    if let Ok(secs) = v.parse::<f64>() {
        return (secs >= 0.0 && secs.is_finite()).then(|| Duration::from_secs_f64(secs));
    }
    let date = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let wait = date.with_timezone(&Utc) - Utc::now();
    Some(wait.to_std().unwrap_or_default())
}

/// `initial × 2^(attempt-1)`, plus up to a quarter of jitter so clients do not retry in step.
fn backoff(initial: Duration, attempt: u32) -> Duration {
    let base = initial.saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)));
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let jitter = base.mul_f64(f64::from(nanos % 1_000) / 4_000.0);
    base + jitter
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_reads_seconds_ms_and_dates() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after-ms", HeaderValue::from_static("250"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(250)));
        let mut h = HeaderMap::new();
        let later = (Utc::now() + chrono::Duration::seconds(30)).to_rfc2822();
        h.insert("retry-after", HeaderValue::from_str(&later).unwrap());
        let d = retry_after(&h).unwrap();
        assert!(
            d > Duration::from_secs(25) && d <= Duration::from_secs(30),
            "{d:?}"
        );
        h.insert("retry-after", HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn backoff_doubles_with_bounded_jitter() {
        let b = |a| backoff(Duration::from_millis(100), a);
        let (one, three) = (b(1), b(3));
        assert!(one >= Duration::from_millis(100) && one <= Duration::from_millis(125));
        assert!(three >= Duration::from_millis(400) && three <= Duration::from_millis(500));
    }
}
