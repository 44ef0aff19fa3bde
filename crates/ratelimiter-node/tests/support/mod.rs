//! Helpers for the node's black-box tests: real node processes on free ports, an HTTP client,
//! polling for conditions, and direct Redis access.

#![allow(dead_code)] // each test binary uses a different subset

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use test_support::{ChildGuard, free_port};

/// A `ratelimiter-node` process on a free port, killed on drop.
#[derive(Debug)]
pub struct NodeProcess {
    guard: ChildGuard,
    /// Its port.
    pub port: u16,
    /// Its node id.
    pub id: String,
}

impl NodeProcess {
    /// Starts a node on `redis_url` with `extra` flags and waits until `/healthz` answers.
    ///
    /// # Panics
    /// When it does not answer within 10 seconds.
    pub async fn start(redis_url: &str, id: &str, extra: &[&str]) -> Self {
        let port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ratelimiter-node"));
        cmd.args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--redis-url",
            redis_url,
            "--node-id",
            id,
        ])
        .args(extra)
        .env(
            "RUST_LOG",
            std::env::var("NODE_LOG").unwrap_or_else(|_| "error".into()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
        for var in [
            "RATELIMITER_ADMIN_TOKEN",
            "RATELIMITER_POLICIES",
            "RATELIMITER_FAILURE_MODE",
            "RATELIMITER_KEY_PREFIX",
        ] {
            cmd.env_remove(var);
        }
        let guard = ChildGuard::spawn(format!("ratelimiter-node:{id}"), &mut cmd);
        let mut node = Self {
            guard,
            port,
            id: id.to_owned(),
        };
        let client = client();
        let healthy = wait_until(Duration::from_secs(10), || {
            let c = client.clone();
            let url = node.url("/healthz");
            async move {
                c.get(url)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            }
        })
        .await;
        assert!(
            healthy,
            "node {id} did not answer /healthz on port {port}; running: {}",
            node.guard.is_running()
        );
        node
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        self.guard.signal(libc::SIGTERM);
        self.guard.wait()
    }

    /// Kills the process (as a crash would).
    pub fn kill(&mut self) {
        self.guard.kill();
    }

    /// `POST /v1/check` of `key` (cost 1); returns the status and the JSON body.
    pub async fn check(&self, client: &reqwest::Client, key: &str) -> (u16, serde_json::Value) {
        self.check_cost(client, key, None).await
    }

    /// `POST /v1/check` of `key` with `cost`.
    pub async fn check_cost(
        &self,
        client: &reqwest::Client,
        key: &str,
        cost: Option<u64>,
    ) -> (u16, serde_json::Value) {
        let mut body = serde_json::json!({"key": key});
        if let Some(c) = cost {
            body["cost"] = c.into();
        }
        let r = client
            .post(self.url("/v1/check"))
            .json(&body)
            .send()
            .await
            .expect("check request");
        let status = r.status().as_u16();
        (status, r.json().await.expect("check answers JSON"))
    }

    /// `GET` of `path` as JSON (status, body).
    pub async fn get_json(&self, client: &reqwest::Client, path: &str) -> (u16, serde_json::Value) {
        let r = client.get(self.url(path)).send().await.expect("GET");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }
}

/// An HTTP client with short timeouts.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(256)
        .build()
        .expect("http client")
}

/// Polls `cond` every 20 ms until it holds or `timeout` passes; whether it held.
pub async fn wait_until<F, Fut>(timeout: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if cond().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Writes a TOML policies file into `dir` and returns its path.
pub fn policies_file(dir: &tempfile::TempDir, toml: &str) -> PathBuf {
    let path = dir.path().join("policies.toml");
    std::fs::write(&path, toml).expect("write policies file");
    path
}

/// A synchronous Redis connection for assertions.
pub fn redis_conn(url: &str) -> redis::Connection {
    redis::Client::open(url)
        .expect("redis url")
        .get_connection()
        .expect("redis connection")
}

/// Redis time in Unix ms.
pub fn redis_now_ms(conn: &mut redis::Connection) -> u64 {
    let (secs, micros): (u64, u64) = redis::cmd("TIME").query(conn).expect("TIME");
    secs * 1000 + micros / 1000
}
