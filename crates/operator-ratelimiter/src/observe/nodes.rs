//! The node half of an observation: `/readyz`, `/v1/node` and `/metrics` of one node, at once.

use ratelimiter_schema::NodeInfo;
use tokio::time::Instant;

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
    let mut errors = Vec::new();
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
        Err(e) => errors.push(format!("/readyz: {}", describe(&e))),
    }
    let mut answered_at = None;
    match info {
        Ok((info, at)) => {
            view.reachable = true;
            view.info = Some(info);
            answered_at = Some(at);
        }
        Err(e) => errors.push(format!("/v1/node: {}", describe(&e))),
    }
    match metrics {
        Ok(text) => {
            view.reachable = true;
            view.latency = Histogram::parse(&text, LATENCY_METRIC);
        }
        Err(e) => errors.push(format!("/metrics: {}", describe(&e))),
    }
    view.error = summarize(&errors);
    (view, answered_at)
}

/// One error when every endpoint failed the same way, else each endpoint's error.
fn summarize(errors: &[String]) -> Option<String> {
    let reasons: Vec<&str> = errors
        .iter()
        .filter_map(|e| e.split_once(": ").map(|(_, r)| r))
        .collect();
    match reasons.first() {
        None => None,
        Some(first) if errors.len() == 3 && reasons.iter().all(|r| r == first) => {
            Some((*first).to_owned())
        }
        Some(_) => Some(errors.join("; ")),
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

/// A one-line description of a request error: refused, timed out, or the status.
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection refused".into()
    } else if let Some(s) = e.status() {
        format!("status {s}")
    } else if e.is_decode() {
        format!("unexpected body: {e}")
    } else {
        e.to_string()
    }
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
}
