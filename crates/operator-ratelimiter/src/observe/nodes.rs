//! The node half of an observation: `/readyz`, `/v1/node` and `/metrics` of one node, at once.

use ratelimiter_schema::NodeInfo;
use tokio::time::Instant;

use crate::error::{ErrorKind, causes};
use crate::histogram::Histogram;
use crate::observation::NodeView;

/// Name of the nodes' decision latency histogram.
const LATENCY_METRIC: &str = "ratelimiter_decision_duration_seconds";

/// What the monitor says when a node refuses it for want of a token.
pub(crate) const TOKEN_MISSING: &str =
    "node requires a token: pass --node-token or OPERATOR_NODE_TOKEN";
/// What the monitor says when a node refuses the token it was given.
pub(crate) const TOKEN_REFUSED: &str = "node refused the token: --node-token (OPERATOR_NODE_TOKEN) \
     must equal the node's --admin-token";

/// A `GET` of the management endpoint `path` (`/v1/...`) of the node at `base`, with
/// `Authorization: Bearer <token>` when the monitor has one.
pub(crate) fn v1_get(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    token: Option<&str>,
) -> reqwest::RequestBuilder {
    let request = http.get(format!("{base}{path}"));
    match token {
        Some(t) => request.bearer_auth(t),
        None => request,
    }
}

/// Observes the node at `url`, sending `token` to its management endpoints. Never fails: what
/// could not be read is `None`, with the error. Also returns the local instant at which
/// `/v1/node` (and its clock reading) was answered.
pub(crate) async fn observe(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
) -> (NodeView, Option<Instant>) {
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
            let r = v1_get(http, base, "/v1/node", token)
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
        let (text, kind) = describe(e, token.is_some());
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

/// A one-line description of a request error (refused, timed out, a missing or refused token,
/// or the status), and its kind; `with_token` says whether the request carried a token.
fn describe(e: &reqwest::Error, with_token: bool) -> (String, ErrorKind) {
    use reqwest::StatusCode;
    if let Some(s @ (StatusCode::UNAUTHORIZED | StatusCode::TOO_MANY_REQUESTS)) = e.status() {
        // 429 on a management read is the node slowing down repeated wrong tokens.
        let text = match (with_token, s) {
            (false, _) => TOKEN_MISSING.to_owned(),
            (true, StatusCode::UNAUTHORIZED) => TOKEN_REFUSED.to_owned(),
            (true, _) => {
                format!("{TOKEN_REFUSED} (refused for a while after repeated wrong tokens)")
            }
        };
        return (text, ErrorKind::Unauthorized);
    }
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
            ErrorKind::Unauthorized | ErrorKind::Other => {
                format!("could not connect: {}", innermost(e))
            }
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
            let (view, answered_at) = observe(&http, &url, None).await;
            assert!(!view.reachable && answered_at.is_none(), "{url}");
            assert_eq!(view.error.as_deref(), Some(error), "{url}");
            assert_eq!(view.error_kind, Some(kind), "{url}");
        }
    }

    #[test]
    fn management_requests_carry_the_token_only_when_there_is_one() {
        let http = reqwest::Client::new();
        let with = v1_get(&http, "http://127.0.0.1:8001", "/v1/node", Some("t0k"))
            .build()
            .unwrap();
        assert_eq!(with.url().as_str(), "http://127.0.0.1:8001/v1/node");
        assert_eq!(
            with.headers().get(reqwest::header::AUTHORIZATION).unwrap(),
            "Bearer t0k"
        );
        let without = v1_get(&http, "http://127.0.0.1:8001", "/v1/node", None)
            .build()
            .unwrap();
        assert!(
            without
                .headers()
                .get(reqwest::header::AUTHORIZATION)
                .is_none()
        );
    }

    /// A listener that answers `/v1/node` 401 and anything else 200, and sends back every
    /// `Authorization` header it received.
    async fn refusing_listener() -> (String, tokio::sync::mpsc::UnboundedReceiver<String>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let tx = tx.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let n = conn.read(&mut buf).await.unwrap_or(0);
                    let request = String::from_utf8_lossy(&buf[..n]).to_string();
                    for line in request.lines() {
                        if line.to_ascii_lowercase().starts_with("authorization:") {
                            let _ = tx.send(line.to_owned());
                        }
                    }
                    let status = if request.starts_with("GET /v1/node ") {
                        "401 Unauthorized"
                    } else {
                        "200 OK"
                    };
                    let answer = format!(
                        "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    );
                    let _ = conn.write_all(answer.as_bytes()).await;
                });
            }
        });
        (url, rx)
    }

    #[tokio::test]
    async fn a_401_is_a_typed_refusal_that_says_what_to_pass_and_the_token_went_on_the_wire() {
        let http = reqwest::Client::new();
        let (url, mut seen) = refusing_listener().await;
        let (view, _) = observe(&http, &url, None).await;
        assert!(view.reachable && view.info.is_none());
        assert_eq!(view.error_kind, Some(ErrorKind::Unauthorized));
        assert_eq!(
            view.error.as_deref(),
            Some(format!("/v1/node: {TOKEN_MISSING}").as_str())
        );
        assert!(seen.try_recv().is_err(), "no token, no header");

        let (view, _) = observe(&http, &url, Some("wr0ng")).await;
        assert_eq!(view.error_kind, Some(ErrorKind::Unauthorized));
        let error = view.error.unwrap();
        assert!(
            error.contains(TOKEN_REFUSED) && !error.contains("wr0ng"),
            "{error}"
        );
        let sent: Vec<String> = std::iter::from_fn(|| seen.try_recv().ok()).collect();
        assert_eq!(
            sent,
            ["authorization: Bearer wr0ng"],
            "only /v1/node gets the token"
        );
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
