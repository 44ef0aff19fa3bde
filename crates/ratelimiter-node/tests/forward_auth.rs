//! `GET /v1/forward-auth` against real processes: called directly (keyed like `/api/request`,
//! open with an admin token, the configured header and deny status, the abuse screen, bad input
//! and bad flags), and behind a real nginx `auth_request` in front of a sample upstream (the
//! configuration of docs/GATEWAYS.md: deny with 403, `error_page 403 =429`).

mod support;

use std::net::IpAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use test_support::{ChildGuard, RedisServer};

use support::{NodeProcess, policies_file, redis_conn};

const LIMIT: u64 = 3;

/// A TOML policies file with `ip:*` and `api:*` limited to [`LIMIT`] per minute.
fn tight_policies(dir: &tempfile::TempDir) -> std::path::PathBuf {
    policies_file(
        dir,
        &format!(
            "[policies.default]\nwindows = [{{ limit = 1000, window_ms = 60000 }}]\n\n\
             [policies.by-ip]\nmatch = \"ip:*\"\nwindows = [{{ limit = {LIMIT}, window_ms = 60000 }}]\n\n\
             [policies.by-key]\nmatch = \"api:*\"\nwindows = [{{ limit = {LIMIT}, window_ms = 60000 }}]\n"
        ),
    )
}

/// An HTTP client whose connections come from `addr` (any 127.x address works on Linux).
fn client_from(addr: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .local_address(addr.parse::<IpAddr>().expect("address"))
        .build()
        .expect("http client")
}

/// One answer: status, the headers asked for (empty when absent), the JSON body (`null` if none).
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: serde_json::Value,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

async fn send(req: reqwest::RequestBuilder, headers: &[(&str, &str)]) -> Answer {
    let mut req = req;
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.expect("request");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.json().await.unwrap_or(serde_json::Value::Null);
    Answer {
        status,
        headers,
        body,
    }
}

/// The names of the counters in Redis.
fn counter_keys(redis: &RedisServer) -> Vec<String> {
    let mut conn = redis_conn(&redis.url());
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg("ratelimit:c:*")
        .query(&mut conn)
        .expect("KEYS");
    keys.sort();
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_calls_are_decided_like_api_request_and_stay_open_with_a_token() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProcess::builder(&redis.url(), "a")
        .args(["--policies", tight_policies(&dir).to_str().unwrap()])
        .env("RATELIMITER_ADMIN_TOKEN", "forward-auth-test-token")
        .env("RATELIMITER_IDENTIFIER_SECRET", "forward-auth-test-secret")
        .start();
    let c = client_from("127.0.0.1");
    let url = node.url_for("/v1/forward-auth");
    for i in 0..LIMIT {
        let a = send(c.get(&url), &[("x-api-key", "sk-live-one")]).await;
        assert_eq!(a.status, 200, "request {i}: {}", a.body);
        assert_eq!(a.body["allowed"], true);
        assert_eq!(a.body["policy"], "by-key");
        assert_eq!(
            a.header("x-ratelimit-remaining"),
            (LIMIT - 1 - i).to_string()
        );
        assert_eq!(a.header("ratelimit-policy"), "\"by-key/1m\";q=3;w=60");
        assert!(
            a.header("ratelimit").starts_with("\"by-key/1m\";r="),
            "{:?}",
            a.headers
        );
        assert!(a.header("retry-after").is_empty(), "no Retry-After on 200");
    }
    let denied = send(c.get(&url), &[("x-api-key", "sk-live-one")]).await;
    assert_eq!(denied.status, 429, "{}", denied.body);
    assert_eq!(denied.body["allowed"], false);
    assert_eq!(denied.header("x-ratelimit-remaining"), "0");
    assert!(
        !denied.header("retry-after").is_empty(),
        "{:?}",
        denied.headers
    );

    // The same counter as /api/request: one forward-auth, then /api/request has LIMIT - 2 left.
    let other = [("x-api-key", "sk-live-two")];
    assert_eq!(send(c.get(&url), &other).await.status, 200);
    let api = send(c.get(node.url_for("/api/request")), &other).await;
    assert_eq!(api.status, 200);
    assert_eq!(api.header("x-ratelimit-remaining"), (LIMIT - 2).to_string());

    // Without the header: the client address.
    let mut by_ip = Vec::new();
    for _ in 0..=LIMIT {
        by_ip.push(send(c.get(&url), &[]).await.status);
    }
    assert_eq!(by_ip, [200, 200, 200, 429]);

    let keys = counter_keys(&redis);
    assert_eq!(keys.len(), 3, "two API keys and one address: {keys:?}");
    assert!(keys.contains(&"ratelimit:c:{ip:127.0.0.1}:by-ip:60000".to_owned()));
    assert!(
        keys.iter().all(|k| !k.contains("sk-live")),
        "API keys are fingerprinted: {keys:?}"
    );

    // Bad input is a 400 JSON error, never a decision.
    let empty = send(c.get(&url), &[("x-api-key", "")]).await;
    assert_eq!(empty.status, 400);
    assert_eq!(empty.body["error"], "invalid_key");
    assert!(
        empty.body["detail"].as_str().unwrap().contains("X-API-Key"),
        "{}",
        empty.body
    );
    // The management API still needs the token: only the decision paths are open.
    assert_eq!(
        send(c.get(node.url_for("/v1/policies")), &[]).await.status,
        401
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configured_header_and_deny_status_apply_to_limits_and_blocks() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProcess::builder(&redis.url(), "a")
        .args(["--policies", tight_policies(&dir).to_str().unwrap()])
        .env("RATELIMITER_FORWARD_AUTH_HEADER", "X-User-Token")
        .env("RATELIMITER_FORWARD_AUTH_DENY_STATUS", "403")
        .env("RATELIMITER_HONEYPOT_KEYS", "trap-key")
        .start();
    let url = node.url_for("/v1/forward-auth");
    let c = client_from("127.0.0.6");
    let mut got = Vec::new();
    for _ in 0..=LIMIT {
        let a = send(
            c.get(&url),
            &[("x-user-token", "u-1"), ("x-api-key", "ignored")],
        )
        .await;
        got.push((a.status, a.body["policy"].as_str().unwrap_or("").to_owned()));
    }
    let by_key = |s: u16| (s, "by-key".to_owned());
    assert_eq!(got, [by_key(200), by_key(200), by_key(200), by_key(403)]);
    // X-API-Key is not the configured header: keyed by the address.
    let a = send(c.get(&url), &[("x-api-key", "u-1")]).await;
    assert_eq!((a.status, a.body["policy"].clone()), (200, "by-ip".into()));
    // A honeypot key blocks the client; the block answers the deny status too.
    let c = client_from("127.0.0.7");
    let trap = send(c.get(&url), &[("x-user-token", "trap-key")]).await;
    assert_eq!(trap.status, 403, "{}", trap.body);
    assert_eq!(trap.body["error"], "client_blocked");
    let after = send(c.get(&url), &[("x-user-token", "u-2")]).await;
    assert_eq!(
        (after.status, after.body["error"].clone()),
        (403, "client_blocked".into())
    );
}

#[test]
fn bad_forward_auth_flags_exit_2_naming_the_flag() {
    for (args, env, flag) in [
        (
            vec!["--forward-auth-deny-status", "200"],
            None,
            "--forward-auth-deny-status",
        ),
        (
            vec![],
            Some(("RATELIMITER_FORWARD_AUTH_DENY_STATUS", "4290")),
            "--forward-auth-deny-status",
        ),
        (
            vec!["--forward-auth-header", "X API Key"],
            None,
            "--forward-auth-header",
        ),
    ] {
        let mut cmd = Command::new(test_support::workspace_bin("ratelimiter-node"));
        cmd.args([
            "--listen",
            "127.0.0.1:0",
            "--redis-url",
            "redis://127.0.0.1:1",
        ])
        .args(&args)
        .env_remove("RATELIMITER_FORWARD_AUTH_DENY_STATUS")
        .env_remove("RATELIMITER_FORWARD_AUTH_HEADER");
        if let Some((k, v)) = env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run ratelimiter-node");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?} {env:?}: {stderr}");
        assert!(stderr.contains(flag), "{args:?} {env:?}: {stderr}");
    }
}

/// nginx on a free port: `auth_request` to the node's forward-auth (connecting from `bind`), in
/// front of a second server block of the same nginx as the upstream, which echoes the RateLimit
/// header it was given in `X-Upstream-Saw-RateLimit`. Killed on drop.
struct GatewayNginx {
    _guard: ChildGuard,
    port: u16,
    _dir: tempfile::TempDir,
}

impl GatewayNginx {
    fn start(node: u16, bind: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let (port, upstream) = (test_support::free_port(), test_support::free_port());
        let d = dir.path().display();
        let conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
             error_log {d}/error.log warn;\nevents {{ worker_connections 64; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
             fastcgi_temp_path {d}/fcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
             server {{\n    listen 127.0.0.1:{port};\n\
             location = /_ratelimit {{\n      internal;\n\
             proxy_pass http://127.0.0.1:{node}/v1/forward-auth;\n      proxy_bind {bind};\n\
             proxy_method GET;\n      proxy_pass_request_body off;\n\
             proxy_set_header Content-Length \"\";\n\
             proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n    }}\n\
             location / {{\n      auth_request /_ratelimit;\n\
             auth_request_set $ratelimit $upstream_http_ratelimit;\n\
             auth_request_set $ratelimit_policy $upstream_http_ratelimit_policy;\n\
             auth_request_set $retry_after $upstream_http_retry_after;\n\
             error_page 403 =429 @ratelimited;\n\
             proxy_set_header RateLimit $ratelimit;\n\
             proxy_pass http://127.0.0.1:{upstream};\n\
             add_header RateLimit $ratelimit always;\n\
             add_header RateLimit-Policy $ratelimit_policy always;\n    }}\n\
             location @ratelimited {{\n      default_type application/json;\n\
             add_header RateLimit $ratelimit always;\n\
             add_header Retry-After $retry_after always;\n\
             return 429 '{{\"error\":\"rate_limited\"}}';\n    }}\n  }}\n\
             server {{\n    listen 127.0.0.1:{upstream};\n    location / {{\n\
             default_type application/json;\n\
             add_header X-Upstream-Saw-RateLimit $http_ratelimit;\n\
             return 200 '{{\"upstream\":\"$request_method $uri\"}}';\n\
             }}\n  }}\n}}\n"
        );
        let path = dir.path().join("nginx.conf");
        std::fs::write(&path, conf).expect("write nginx.conf");
        let bin = std::env::var("NGINX_BIN").unwrap_or_else(|_| "nginx".into());
        let Some(bin) = which(&bin) else {
            panic!(
                "nginx not found ({bin}): install it (apt-get install nginx-light) or set NGINX_BIN"
            );
        };
        let mut cmd = Command::new(&bin);
        cmd.arg("-e")
            .arg(dir.path().join("error.log"))
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        let guard = ChildGuard::spawn("nginx", &mut cmd);
        assert!(
            test_support::ports::wait_for_port(port, Duration::from_secs(10)),
            "nginx did not listen on {port}; see {d}/error.log"
        );
        Self {
            _guard: guard,
            port,
            _dir: dir,
        }
    }

    fn url_for(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

fn which(bin: &str) -> Option<std::path::PathBuf> {
    if bin.contains('/') {
        return Some(bin.into()).filter(|p: &std::path::PathBuf| p.exists());
    }
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
        .map(|d| std::path::Path::new(d).join(bin))
        .find(|p| p.exists())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_auth_request_limits_each_client_in_front_of_an_upstream() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    // nginx connects from 127.0.0.2, the one trusted proxy; clients come from other addresses.
    let node = NodeProcess::builder(&redis.url(), "a")
        .args(["--policies", tight_policies(&dir).to_str().unwrap()])
        .env("RATELIMITER_TRUSTED_PROXIES", "127.0.0.2/32")
        .env("RATELIMITER_FORWARD_AUTH_DENY_STATUS", "403")
        .start();
    let lb = GatewayNginx::start(node.port, "127.0.0.2");
    let (a, b) = (client_from("127.0.0.3"), client_from("127.0.0.4"));
    let url = lb.url_for("/orders/42");
    for i in 0..LIMIT {
        // A POST: the subrequest is sent as GET (proxy_method), and the upstream gets the request.
        let r = send(a.post(&url).body("{}"), &[]).await;
        assert_eq!(r.status, 200, "request {i}: {}", r.body);
        assert_eq!(r.body["upstream"], "POST /orders/42");
        let remaining = LIMIT - 1 - i;
        let expected = format!("\"by-ip/1m\";r={remaining};t=");
        let upstream_saw = r.header("x-upstream-saw-ratelimit");
        assert!(
            upstream_saw.starts_with(&expected),
            "the upstream got the RateLimit header: {upstream_saw:?}"
        );
        assert_eq!(r.header("ratelimit"), upstream_saw, "and so did the client");
        assert_eq!(r.header("ratelimit-policy"), "\"by-ip/1m\";q=3;w=60");
    }
    let denied = send(a.get(&url), &[]).await;
    assert_eq!(denied.status, 429, "403 turned into 429 by error_page");
    assert_eq!(denied.body["error"], "rate_limited");
    assert!(
        denied
            .header("ratelimit")
            .starts_with("\"by-ip/1m\";r=0;t=")
    );
    assert!(
        !denied.header("retry-after").is_empty(),
        "{:?}",
        denied.headers
    );
    // b, behind the same proxy, has a limit of its own; an API key has another.
    assert_eq!(send(b.get(&url), &[]).await.status, 200);
    for _ in 0..LIMIT {
        assert_eq!(
            send(a.get(&url), &[("x-api-key", "sk-a")]).await.status,
            200
        );
    }
    assert_eq!(
        send(a.get(&url), &[("x-api-key", "sk-a")]).await.status,
        429
    );
    let keys = counter_keys(&redis);
    let by_ip: Vec<&String> = keys.iter().filter(|k| k.contains("{ip:")).collect();
    assert_eq!(
        by_ip,
        [
            "ratelimit:c:{ip:127.0.0.3}:by-ip:60000",
            "ratelimit:c:{ip:127.0.0.4}:by-ip:60000"
        ],
        "keyed by the client nginx saw, not by nginx"
    );
}
