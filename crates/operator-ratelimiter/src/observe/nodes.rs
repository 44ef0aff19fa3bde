//! The node half of an observation: `/readyz`, `/v1/node` and `/metrics` of one node, at once.

use ratelimiter_schema::NodeInfo;
use tokio::time::Instant;

use crate::error::{ErrorKind, causes};
use crate::histogram::Histogram;
use crate::observation::NodeView;

/// Name of the nodes' decision latency histogram.
const LATENCY_METRIC: &str = "ratelimiter_decision_duration_seconds";

/// Observes the node at `url`. Never fails: what could not be read is `None`, with the error.
/// Also returns the local instant at which `/v1/node` (and its clock reading) was answered.
pub(crate) async fn observe(http: &reqwest::Client, url: &str) -> (NodeView, Option<Instant>) {
    let base = url.trim_end_matches('/');
    let mut view = NodeView {
        url: url.to_owned(),
        addr: addr_of(url),
        ..Default::default()
    };
    let sent = Instant::now();
    let (ready, info, metrics) = tokio::join!(
        http.get(format!("{base}/readyz")).send(),
        async {
            let r = http
                .get(format!("{base}/v1/node"))
                .send()
                .await?
                .error_for_status()?;
            let at = sent + sent.elapsed() / 2;
            Ok::<_, reqwest::Error>((r.json::<NodeInfo>().await?, at))
        },
        async {
            http.get(format!("{base}/metrics"))
                .send()
                .await?
                .error_for_status()?
                .text()
                .await
        },
    );
    let mut errors: Vec<(String, ErrorKind)> = Vec::new();
    let mut failed = |endpoint: &str, e: &reqwest::Error| {
        let (text, kind) = describe(e);
        errors.push((format!("{endpoint}: {text}"), kind));
    };
    match ready {
        Ok(r) => {
            view.reachable = true;
            let ok = r.status().is_success();
            view.ready = Some(ok);
            if !ok {
                let status = r.status();
                let body = r.text().await.unwrap_or_default();
                view.ready_reason = Some(reason(status, &body));
            }
        }
        Err(e) => failed("/readyz", &e),
    }
    let mut answered_at = None;
    match info {
        Ok((info, at)) => {
            view.reachable = true;
            view.info = Some(info);
            answered_at = Some(at);
        }
        Err(e) => failed("/v1/node", &e),
    }
    match metrics {
        Ok(text) => {
            view.reachable = true;
            view.latency = Histogram::parse(&text, LATENCY_METRIC);
        }
        Err(e) => failed("/metrics", &e),
    }
    view.error = summarize(&errors);
    view.error_kind = errors.iter().map(|(_, kind)| *kind).min();
    (view, answered_at)
}

/// One error when every endpoint failed the same way, else each endpoint's error.
fn summarize(errors: &[(String, ErrorKind)]) -> Option<String> {
    let reasons: Vec<&str> = errors
        .iter()
        .filter_map(|(e, _)| e.split_once(": ").map(|(_, r)| r))
        .collect();
    match reasons.first() {
        None => None,
        Some(first) if errors.len() == 3 && reasons.iter().all(|r| r == first) => {
            Some((*first).to_owned())
        }
        Some(_) => Some(
            errors
                .iter()
                .map(|(e, _)| e.as_str())
                .collect::<Vec<_>>()
                .join("; "),
        ),
    }
}

/// `host:port` of a base URL (the node's stable identity in tickets).
fn addr_of(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => match (u.host_str(), u.port_or_known_default()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            _ => url.to_owned(),
        },
        Err(_) => url.to_owned(),
    }
}

/// A short reason from a `/readyz` answer: the JSON `detail` or `reason` when there is one.
fn reason(status: reqwest::StatusCode, body: &str) -> String {
    let detail = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            ["detail", "reason", "error"]
                .iter()
                .find_map(|k| v.get(k).and_then(|d| d.as_str()).map(str::to_owned))
        });
    let text = detail.unwrap_or_else(|| body.trim().chars().take(200).collect());
    format!("{status}: {text}")
}

/// A one-line description of a request error (refused, timed out, or the status), and its
/// kind.
fn describe(e: &reqwest::Error) -> (String, ErrorKind) {
    let kind = if e.is_timeout() {
        ErrorKind::TimedOut
    } else {
        ErrorKind::of_causes(e).unwrap_or(ErrorKind::Other)
    };
    let text = if e.is_timeout() || e.is_connect() {
        match kind {
            ErrorKind::Refused => "connection refused".to_owned(),
            ErrorKind::TimedOut => "timed out".to_owned(),
            ErrorKind::Reset => "connection reset".to_owned(),
            ErrorKind::Dns => "host name does not resolve".to_owned(),
            ErrorKind::Other => format!("could not connect: {}", innermost(e)),
        }
    } else if let Some(s) = e.status() {
        format!("status {s}")
    } else if e.is_decode() {
        format!("unexpected body: {e}")
    } else {
        e.to_string()
    };
    (text, kind)
}

/// The innermost cause of `e`: what went wrong, without the layers that carried it.
fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    causes(e)
        .last()
        .map_or_else(String::new, ToString::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_reasons() {
        assert_eq!(addr_of("http://127.0.0.1:8002"), "127.0.0.1:8002");
        assert_eq!(addr_of("http://node-2/"), "node-2:80");
        let r = reason(
            reqwest::StatusCode::SERVICE_UNAVAILABLE,
            r#"{"error":"not_ready","detail":"redis unreachable"}"#,
        );
        assert_eq!(r, "503 Service Unavailable: redis unreachable");
    }

    /// A port nothing listens on (bound, then released), and a listener that accepts
    /// connections (the kernel does) but never answers.
    fn refused_and_silent() -> (u16, std::net::TcpListener) {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        (port, std::net::TcpListener::bind("127.0.0.1:0").unwrap())
    }

    #[tokio::test]
    async fn request_failures_are_classified_where_they_are_caught() {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_millis(300))
            .build()
            .unwrap();
        let (refused, silent) = refused_and_silent();
        let silent = silent.local_addr().unwrap().port();
        for (url, error, kind) in [
            (
                format!("http://127.0.0.1:{refused}"),
                "connection refused",
                ErrorKind::Refused,
            ),
            (
                format!("http://127.0.0.1:{silent}"),
                "timed out",
                ErrorKind::TimedOut,
            ),
            (
                "http://node.invalid:8001".to_owned(),
                "host name does not resolve",
                ErrorKind::Dns,
            ),
        ] {
            let (view, answered_at) = observe(&http, &url).await;
            assert!(!view.reachable && answered_at.is_none(), "{url}");
            assert_eq!(view.error.as_deref(), Some(error), "{url}");
            assert_eq!(view.error_kind, Some(kind), "{url}");
        }
    }

    #[test]
    fn endpoints_failing_differently_are_each_named_and_the_most_telling_kind_kept() {
        let errors = [
            ("/readyz: timed out".to_owned(), ErrorKind::TimedOut),
            (
                "/v1/node: connection refused".to_owned(),
                ErrorKind::Refused,
            ),
            (
                "/metrics: connection refused".to_owned(),
                ErrorKind::Refused,
            ),
        ];
        assert_eq!(
            summarize(&errors).as_deref(),
            Some("/readyz: timed out; /v1/node: connection refused; /metrics: connection refused")
        );
        assert_eq!(errors.iter().map(|e| e.1).min(), Some(ErrorKind::Refused));
    }
}
