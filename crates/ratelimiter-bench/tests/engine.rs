//! The load engine against a stub server: counts what it sends, classifies statuses, and reports
//! every second.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use ratelimiter_bench::{Endpoint, KeyPattern, LoadConfig, LoadMode, run};

async fn stub() -> (String, Arc<AtomicU64>) {
    let hits = Arc::new(AtomicU64::new(0));
    let h = hits.clone();
    let h2 = hits.clone();
    let app = Router::new()
        .route(
            "/v1/check",
            post(move |body: String| {
                let n = h.fetch_add(1, Ordering::Relaxed);
                async move {
                    assert!(body.starts_with("{\"key\":\"k"), "{body}");
                    match n % 3 {
                        0 => StatusCode::OK,
                        1 => StatusCode::TOO_MANY_REQUESTS,
                        _ => StatusCode::SERVICE_UNAVAILABLE,
                    }
                }
            }),
        )
        .route(
            "/api/request",
            get(move || {
                h2.fetch_add(1, Ordering::Relaxed);
                async { StatusCode::OK }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_loop_counts_every_answer_by_status() {
    let (url, hits) = stub().await;
    let config = LoadConfig {
        targets: vec![url],
        mode: LoadMode::Closed { concurrency: 4 },
        duration: Duration::from_millis(1_500),
        keys: KeyPattern::Many {
            prefix: "k".into(),
            count: 10,
        },
        ..LoadConfig::default()
    };
    let mut seconds = 0;
    let report = run(config, std::future::pending(), |_| seconds += 1)
        .await
        .unwrap();
    let sent = hits.load(Ordering::Relaxed);
    assert!(report.decisions() > 10, "{report:?}");
    assert_eq!(report.decisions() + report.errors, sent);
    assert_eq!(
        report.error_kinds.get("status 503").copied(),
        Some(report.errors)
    );
    assert!(report.allowed.abs_diff(report.denied) <= 4);
    assert!(seconds >= 1);
    assert!(report.latency.p50_us > 0 && report.latency.p50_us <= report.latency.p99_us);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_holds_the_rate() {
    let (url, hits) = stub().await;
    let config = LoadConfig {
        targets: vec![url],
        mode: LoadMode::Open {
            rate: 200.0,
            connections: 4,
        },
        duration: Duration::from_secs(1),
        endpoint: Endpoint::ApiRequest,
        ..LoadConfig::default()
    };
    let report = run(config, std::future::pending(), |_| {}).await.unwrap();
    let sent = hits.load(Ordering::Relaxed);
    assert!(
        (150..=210).contains(&sent),
        "{sent} requests in 1 s at 200/s"
    );
    assert_eq!(report.allowed, sent);
}

#[tokio::test]
async fn invalid_configurations_are_refused() {
    for config in [
        LoadConfig {
            targets: vec![],
            ..LoadConfig::default()
        },
        LoadConfig {
            targets: vec!["https://x:1".into()],
            ..LoadConfig::default()
        },
        LoadConfig {
            mode: LoadMode::Closed { concurrency: 0 },
            ..LoadConfig::default()
        },
        LoadConfig {
            mode: LoadMode::Open {
                rate: 0.0,
                connections: 1,
            },
            ..LoadConfig::default()
        },
        LoadConfig {
            keys: KeyPattern::Many {
                prefix: "k".into(),
                count: 0,
            },
            ..LoadConfig::default()
        },
    ] {
        assert!(run(config, std::future::pending(), |_| {}).await.is_err());
    }
}

/// A stub that admits everything, answering like the node (`reset_after_ms` in the body).
async fn admit_all() -> String {
    let app = Router::new()
        .route(
            "/v1/check",
            post(|| async {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_millis() as u64;
                format!(
                    "{{\"allowed\":true,\"reset_after_ms\":{},\"retry_after_ms\":0}}",
                    1_000 - now % 1_000
                )
            }),
        )
        .route("/healthz", get(|| async { "{\"status\":\"ok\"}" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_oracle_sees_a_limiter_that_admits_everything() {
    let url = admit_all().await;
    let config = LoadConfig {
        targets: vec![url],
        mode: LoadMode::Closed { concurrency: 2 },
        duration: Duration::from_millis(1_200),
        keys: KeyPattern::Hot("h".into()),
        ..LoadConfig::default()
    };
    let policy = ratelimiter_bench::OraclePolicy {
        limit: 5,
        window_ms: 1_000,
    };
    let (report, oracle) =
        ratelimiter_bench::run_with_oracle(config, policy, std::future::pending(), |_| {})
            .await
            .unwrap();
    assert!(report.allowed > 20, "{report:?}");
    assert_eq!(oracle.admitted, report.allowed);
    assert_eq!(oracle.keys, 1);
    assert_eq!(oracle.unplaced, 0);
    assert!(oracle.oracle_admitted <= 15, "{oracle:?}");
    assert!(oracle.windows_over_limit >= 1, "{oracle:?}");
    assert_eq!(
        oracle.over_admission,
        report.allowed - 5 * oracle.windows_over_limit,
        "every window past its 5 is over-admission: {oracle:?}"
    );
    assert!(oracle.drift > 0.5, "{oracle:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_is_driven_and_counted_as_allowed() {
    let url = admit_all().await;
    let config = LoadConfig {
        targets: vec![url],
        mode: LoadMode::Closed { concurrency: 2 },
        duration: Duration::from_millis(500),
        endpoint: Endpoint::Healthz,
        keys: KeyPattern::seed_002(),
        ..LoadConfig::default()
    };
    let report = run(config, std::future::pending(), |_| {}).await.unwrap();
    assert!(report.allowed > 10 && report.errors == 0, "{report:?}");
}
