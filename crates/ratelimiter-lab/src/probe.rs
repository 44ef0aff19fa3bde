//! Small, bounded probes of the stack's services: Redis commands on a fresh connection, and the
//! nodes' HTTP API. Used by readiness waits, chaos faults and their verifications.

use std::time::Duration;

use ratelimiter_schema::{CheckResponse, NodeInfo};
use redis::aio::MultiplexedConnection;
use tokio::time::Instant;

use crate::error::{Error, Result};
use crate::secret::Secret;

/// A Redis at one URL; every call opens a fresh connection, so a probe never waits behind a
/// connection left half-used by an earlier fault.
#[derive(Debug, Clone)]
pub struct RedisProbe {
    client: Target,
    timeout: Duration,
}

/// One Redis, or a Redis Cluster whose keyed commands go to their slot's primary.
#[derive(Debug, Clone)]
enum Target {
    // Both boxed: the two clients differ much in size (clippy's large_enum_variant).
    One(Box<redis::Client>),
    Cluster(Box<redis::cluster::ClusterClient>),
}

impl RedisProbe {
    /// A probe of `url`, each call bounded by `timeout`. Of a cluster's comma-separated seed
    /// URLs, the first is probed.
    ///
    /// # Errors
    /// When the URL does not parse.
    pub fn new(url: &str, timeout: Duration) -> Result<Self> {
        let url = url.split(',').next().unwrap_or(url);
        Ok(Self {
            client: Target::One(Box::new(redis::Client::open(url)?)),
            timeout,
        })
    }

    /// A probe of the Redis Cluster reached through its comma-separated seed `urls`: each keyed
    /// command goes to the primary of its key's slot (only [`RedisProbe::query`] is routed so).
    ///
    /// # Errors
    /// When a URL does not parse.
    pub fn cluster(urls: &str, timeout: Duration) -> Result<Self> {
        let client = redis::cluster::ClusterClient::builder(urls.split(',').map(str::to_owned))
            .connection_timeout(timeout)
            .response_timeout(timeout)
            .retries(1)
            .build()?;
        Ok(Self {
            client: Target::Cluster(Box::new(client)),
            timeout,
        })
    }

    async fn conn(&self) -> Result<MultiplexedConnection> {
        let Target::One(client) = &self.client else {
            return Err(Error::Fault(
                "a pipeline or a scan needs one Redis, not a cluster".into(),
            ));
        };
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        tokio::time::timeout(
            self.timeout,
            client.get_multiplexed_async_connection_with_config(&config),
        )
        .await
        .map_err(|_| Error::RedisTimeout(self.timeout.as_millis()))?
        .map_err(Error::from)
    }

    /// Runs one command.
    ///
    /// # Errors
    /// Redis errors, or no answer within the timeout.
    pub async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T> {
        let timed_out = |_| Error::RedisTimeout(self.timeout.as_millis());
        match &self.client {
            Target::One(_) => {
                let mut conn = self.conn().await?;
                tokio::time::timeout(self.timeout, cmd.query_async(&mut conn))
                    .await
                    .map_err(timed_out)?
                    .map_err(Error::from)
            }
            Target::Cluster(client) => {
                let mut conn = tokio::time::timeout(self.timeout, client.get_async_connection())
                    .await
                    .map_err(timed_out)??;
                tokio::time::timeout(self.timeout, cmd.query_async(&mut conn))
                    .await
                    .map_err(timed_out)?
                    .map_err(Error::from)
            }
        }
    }

    /// Runs a pipeline.
    ///
    /// # Errors
    /// As [`RedisProbe::query`].
    pub async fn pipe<T: redis::FromRedisValue>(&self, pipe: &redis::Pipeline) -> Result<T> {
        let mut conn = self.conn().await?;
        tokio::time::timeout(self.timeout, pipe.query_async(&mut conn))
            .await
            .map_err(|_| Error::RedisTimeout(self.timeout.as_millis()))?
            .map_err(Error::from)
    }

    /// Whether Redis answers PING now.
    pub async fn ping(&self) -> bool {
        self.query::<String>(&redis::cmd("PING"))
            .await
            .is_ok_and(|r| r == "PONG")
    }

    /// Every key matching `pattern`, by a complete SCAN.
    ///
    /// # Errors
    /// As [`RedisProbe::query`].
    pub async fn scan(&self, pattern: &str) -> Result<Vec<String>> {
        let mut cursor = 0u64;
        let mut found = Vec::new();
        loop {
            let (next, batch): (u64, Vec<String>) = self
                .query(
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(pattern)
                        .arg("COUNT")
                        .arg(1_000),
                )
                .await?;
            found.extend(batch);
            cursor = next;
            if cursor == 0 {
                return Ok(found);
            }
        }
    }

    /// One field of `INFO <section>`, e.g. `("memory", "number_of_cached_scripts")`.
    ///
    /// # Errors
    /// As [`RedisProbe::query`].
    pub async fn info_field(&self, section: &str, field: &str) -> Result<Option<String>> {
        let text: String = self.query(redis::cmd("INFO").arg(section)).await?;
        Ok(text.lines().find_map(|l| {
            l.strip_prefix(field)
                .and_then(|r| r.strip_prefix(':'))
                .map(|v| v.trim().to_owned())
        }))
    }
}

/// The nodes' HTTP API; with the stack's admin token, its `/v1/*` requests carry
/// `Authorization: Bearer`.
#[derive(Debug, Clone)]
pub struct NodeProbe {
    http: reqwest::Client,
    token: Option<Secret>,
}

impl NodeProbe {
    /// A probe whose requests each last at most `timeout`.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(timeout: Duration) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .pool_max_idle_per_host(0)
            .build()
            .map_err(|e| Error::Node {
                url: String::new(),
                detail: format!("http client: {e}"),
            })?;
        Ok(Self { http, token: None })
    }

    /// This probe, sending `token` on the nodes' `/v1/*` endpoints.
    #[must_use]
    pub fn with_token(mut self, token: Option<Secret>) -> Self {
        self.token = token;
        self
    }

    /// `request` with the bearer token, when the probe has one.
    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(t) => request.bearer_auth(t.expose()),
            None => request,
        }
    }

    /// Whether `GET <url>/readyz` answers 200.
    pub async fn ready(&self, url: &str) -> bool {
        self.http
            .get(format!("{}/readyz", url.trim_end_matches('/')))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    }

    /// Whether `GET <url>` answers 2xx (e.g. the load balancer's health path).
    pub async fn get_ok(&self, url: &str) -> bool {
        self.http
            .get(url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    }

    /// `GET <url>/v1/node`.
    ///
    /// # Errors
    /// [`Error::Node`] when it does not answer with a node document.
    pub async fn info(&self, url: &str) -> Result<NodeInfo> {
        let fail = |detail: String| Error::Node {
            url: url.to_owned(),
            detail,
        };
        self.authorized(
            self.http
                .get(format!("{}/v1/node", url.trim_end_matches('/'))),
        )
        .send()
        .await
        .map_err(|e| fail(e.to_string()))?
        .error_for_status()
        .map_err(|e| fail(e.to_string()))?
        .json()
        .await
        .map_err(|e| fail(format!("unreadable /v1/node: {e}")))
    }

    /// `POST <url>/v1/check` for `key`: the HTTP status and the decision.
    ///
    /// # Errors
    /// [`Error::Node`] when it does not answer with a decision (200 or 429).
    pub async fn check(&self, url: &str, key: &str) -> Result<(u16, CheckResponse)> {
        let fail = |detail: String| Error::Node {
            url: url.to_owned(),
            detail,
        };
        let r = self
            .authorized(
                self.http
                    .post(format!("{}/v1/check", url.trim_end_matches('/'))),
            )
            .json(&serde_json::json!({ "key": key }))
            .send()
            .await
            .map_err(|e| fail(e.to_string()))?;
        let status = r.status().as_u16();
        if status != 200 && status != 429 {
            let body = r.text().await.unwrap_or_default();
            return Err(fail(format!("status {status}: {body}")));
        }
        let body = r
            .json()
            .await
            .map_err(|e| fail(format!("unreadable decision: {e}")))?;
        Ok((status, body))
    }
}

/// Polls `probe` every `every` until it returns `true` or `timeout` passes; returns how long it
/// took, or `None`.
pub async fn wait_until<F, Fut>(
    timeout: Duration,
    every: Duration,
    mut probe: F,
) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if probe().await {
            return Some(start.elapsed());
        }
        if start.elapsed() >= timeout {
            return None;
        }
        tokio::time::sleep(every).await;
    }
}

/// Whether something accepts TCP connections on `127.0.0.1:port`.
pub async fn port_open(port: u16) -> bool {
    tokio::time::timeout(
        Duration::from_millis(300),
        tokio::net::TcpStream::connect(("127.0.0.1", port)),
    )
    .await
    .is_ok_and(|r| r.is_ok())
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    /// Accepts one connection, answers `body` as JSON, and hands back the request's head.
    fn one_request(body: &'static str) -> (String, std::thread::JoinHandle<String>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = vec![0u8; 8192];
            let n = conn.read(&mut buf).unwrap();
            let head = String::from_utf8_lossy(&buf[..n]).into_owned();
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            conn.write_all(reply.as_bytes()).unwrap();
            head
        });
        (url, server)
    }

    #[tokio::test]
    async fn management_calls_carry_the_stack_token() {
        let (url, server) = one_request("{}");
        let probe = NodeProbe::new(Duration::from_secs(2))
            .unwrap()
            .with_token(Some(Secret::new("tok-probe-1")));
        let _ = probe.info(&url).await;
        let head = server.join().unwrap().to_lowercase();
        assert!(head.starts_with("get /v1/node "), "{head}");
        assert!(head.contains("authorization: bearer tok-probe-1"), "{head}");

        let (url, server) = one_request("{}");
        let _ = NodeProbe::new(Duration::from_secs(2))
            .unwrap()
            .info(&url)
            .await;
        let head = server.join().unwrap().to_lowercase();
        assert!(
            !head.contains("authorization"),
            "no token, no header: {head}"
        );
    }
}
