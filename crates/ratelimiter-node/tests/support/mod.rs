//! Helpers for the node's black-box tests: the node's API over reqwest, polling for conditions,
//! and direct Redis access. Nodes and Redis are started by `test_support` ([`NodeProcess`],
//! `RedisServer`), as in every crate's tests.

#![allow(dead_code)] // each test binary uses a different subset

pub mod cluster;

use std::path::PathBuf;
use std::time::{Duration, Instant};

pub use test_support::NodeProcess;

/// The node's API, as the tests call it.
pub trait NodeApi {
    /// `POST /v1/check` of `key` (cost 1); the status and the JSON body.
    async fn check(&self, client: &reqwest::Client, key: &str) -> (u16, serde_json::Value);

    /// `POST /v1/check` of `key` with `cost`.
    async fn check_cost(
        &self,
        client: &reqwest::Client,
        key: &str,
        cost: Option<u64>,
    ) -> (u16, serde_json::Value);

    /// `GET` of `path` as JSON (status, body; `null` for a body that is not JSON).
    async fn get_json(&self, client: &reqwest::Client, path: &str) -> (u16, serde_json::Value);
}

impl NodeApi for NodeProcess {
    async fn check(&self, client: &reqwest::Client, key: &str) -> (u16, serde_json::Value) {
        self.check_cost(client, key, None).await
    }

    async fn check_cost(
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
            .post(self.url_for("/v1/check"))
            .json(&body)
            .send()
            .await
            .expect("check request");
        let status = r.status().as_u16();
        (status, r.json().await.expect("check answers JSON"))
    }

    async fn get_json(&self, client: &reqwest::Client, path: &str) -> (u16, serde_json::Value) {
        let r = client.get(self.url_for(path)).send().await.expect("GET");
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
