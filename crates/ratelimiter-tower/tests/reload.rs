//! The layer over a real socket, keyed by client address behind a trusted proxy, with its YAML
//! changed while it serves: the new limit applies within a second, a broken file keeps the last
//! good one and says why; and the node's failure modes when Redis is unreachable.

mod support;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use ratelimiter_schema::FailureMode;
use ratelimiter_tower::Limiter;
use test_support::RedisServer;

use support::{app, call, config, json, write};

fn yaml(limit: u64) -> String {
    format!(
        "domain: edge\ndescriptors:\n  - key: remote_address\n    rate_limit: {{ unit: hour, requests_per_unit: {limit} }}\n"
    )
}

fn client_from(addr: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .local_address(addr.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

async fn status(c: &reqwest::Client, url: &str, headers: &[(&str, &str)]) -> u16 {
    let mut req = c.get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_behind_a_trusted_proxy_are_limited_apart_and_the_yaml_reloads_live() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "edge.yaml", &yaml(2));
    let limiter = Limiter::builder(config(&redis.url()))
        .envoy_config(&file)
        .trusted_proxies(vec!["127.0.0.2/32".parse().unwrap()])
        .key("remote_address:{ip}")
        .build()
        .await
        .unwrap();
    assert_eq!(limiter.domain(), "edge", "the file's domain");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let watcher = tokio::spawn(limiter.clone().run(async {
        let _ = stopped.await;
    }));
    let app = app(limiter.clone(), 1, Arc::new(AtomicU64::new(0)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://127.0.0.1:{}/e0",
        listener.local_addr().unwrap().port()
    );
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    let (a, b, proxy) = (
        client_from("127.0.0.3"),
        client_from("127.0.0.4"),
        client_from("127.0.0.2"),
    );
    let a_says = [("x-forwarded-for", "9.9.9.9")];
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(status(&a, &url, &a_says).await);
    }
    assert_eq!(
        got,
        [200, 200, 429],
        "a forged header from an untrusted peer is ignored"
    );
    let r = b.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200, "b has its own limit");
    assert!(
        r.headers()["ratelimit"]
            .to_str()
            .unwrap()
            .contains("/1h\";r=1;t="),
        "{:?}",
        r.headers()
    );
    // Through the trusted proxy, the forwarded client is the key: 203.0.113.7 is new.
    let via = [("x-forwarded-for", "203.0.113.7")];
    assert_eq!(status(&proxy, &url, &via).await, 200);
    assert_eq!(status(&proxy, &url, &via).await, 200);
    assert_eq!(status(&proxy, &url, &via).await, 429);

    // Raise the limit: a is allowed again within a second (the file is watched).
    write(dir.path(), "edge.yaml", &yaml(5));
    let changed = Instant::now();
    loop {
        if status(&a, &url, &[]).await == 200 {
            break;
        }
        assert!(
            changed.elapsed() < Duration::from_secs(5),
            "the new limit never applied"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A broken file is refused, with its line; the limit of 5 stays.
    write(
        dir.path(),
        "edge.yaml",
        "domain: edge\ndescriptors:\n  - key: [\n",
    );
    let refused = test_support::wait_for(Duration::from_secs(5), || {
        limiter
            .node()
            .rls()
            .files()
            .iter()
            .any(|f| f.error.is_some())
    });
    assert!(refused, "the broken file is reported");
    let reason = limiter.node().rls().files()[0].error.clone().unwrap();
    assert!(reason.contains("line"), "{reason}");
    let mut more = Vec::new();
    for _ in 0..5 {
        more.push(status(&b, &url, &[]).await);
    }
    assert_eq!(
        more,
        [200, 200, 200, 200, 429],
        "b: 1 used of the last good limit of 5"
    );
    let _ = stop.send(());
    watcher.await.unwrap();
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_the_failure_mode_decides() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "edge.yaml", &yaml(2));
    // A port nothing listens on: every Redis call fails at once.
    let down = format!("redis://127.0.0.1:{}", test_support::free_port());
    for (mode, expected) in [
        (FailureMode::Open, vec![200, 200, 200]),
        (FailureMode::Local, vec![200, 200, 429]),
        (FailureMode::Closed, vec![503, 503, 503]),
    ] {
        let limiter = Limiter::builder(ratelimiter_node::Config {
            failure_mode: mode,
            ..config(&down)
        })
        .envoy_config(&file)
        .key("remote_address:{ip}")
        .build()
        .await
        .unwrap();
        let app = app(limiter, 1, Arc::new(AtomicU64::new(0)));
        let mut got = Vec::new();
        let mut last = None;
        for _ in 0..3 {
            let r = call(&app, "/e0", &[]).await;
            got.push(r.status().as_u16());
            last = Some(r);
        }
        assert_eq!(got, expected, "{mode}");
        let last = last.unwrap();
        if mode == FailureMode::Closed {
            assert_eq!(last.headers()["retry-after"], "1");
            assert_eq!(json(last).await["error"], "redis_unavailable");
        } else if mode == FailureMode::Local {
            assert_eq!(json(last).await["degraded"], "local");
        }
    }
}
