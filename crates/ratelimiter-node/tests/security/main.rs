//! Node security against real processes (issue 15): who the client is behind a proxy, the admin
//! token on every management read, API keys never in clear, and a bounded counter reset.
//!
//! - `proxy`: forged `X-Forwarded-For` from untrusted peers is ignored; from a trusted peer (a
//!   real nginx in front) the rightmost untrusted entry keys the client.
//! - `token`: 401 on every `/v1` read without the token, 200 with; decision paths open;
//!   brute force gets 429 `too_many_auth_failures`.
//! - `secrets`: no API key in Redis key names, `/v1/counters`, `/metrics` or the log; nodes with
//!   one secret share a limit; `DELETE /v1/counters/{key}` removes exactly that key's windows.

#[path = "../support/mod.rs"]
mod support;

mod nginx;
mod proxy;
mod secrets;
mod token;

use std::net::IpAddr;
use std::time::Duration;

/// An HTTP client whose connections come from `addr` (any 127.x address works on Linux), so one
/// test can play several clients.
pub fn client_from(addr: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .local_address(addr.parse::<IpAddr>().expect("address"))
        .build()
        .expect("http client")
}

/// `GET url` with `headers`; the status and the JSON body (`null` when not JSON).
pub async fn get(
    client: &reqwest::Client,
    url: &str,
    headers: &[(&str, &str)],
) -> (u16, serde_json::Value) {
    let mut req = client.get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.expect("GET");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(serde_json::Value::Null))
}

/// A TOML policies file with `ip:*` and `api:*` limited to `limit` per minute.
pub fn tight_policies(dir: &tempfile::TempDir, limit: u64) -> std::path::PathBuf {
    support::policies_file(
        dir,
        &format!(
            "[policies.default]\nwindows = [{{ limit = 1000, window_ms = 60000 }}]\n\n\
             [policies.by-ip]\nmatch = \"ip:*\"\nwindows = [{{ limit = {limit}, window_ms = 60000 }}]\n\n\
             [policies.by-key]\nmatch = \"api:*\"\nwindows = [{{ limit = {limit}, window_ms = 60000 }}]\n"
        ),
    )
}

/// Every key name in Redis.
pub fn all_redis_keys(conn: &mut redis::Connection) -> Vec<String> {
    let keys: redis::Iter<'_, String> = redis::cmd("SCAN")
        .cursor_arg(0)
        .arg("COUNT")
        .arg(1000)
        .clone()
        .iter(conn)
        .expect("SCAN");
    keys.collect::<Result<_, _>>().expect("SCAN reply")
}
