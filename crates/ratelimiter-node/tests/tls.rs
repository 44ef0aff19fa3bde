//! `rediss://` with a password: the node talks TLS to Redis and authenticates.

mod support;

use std::time::Duration;

use support::{NodeApi, NodeProcess, client, wait_until};
use test_support::RedisServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_with_a_password_works() {
    let redis = RedisServer::builder().tls().password("s3cret").start();
    let ca = redis.tls_ca_file().expect("a TLS server has a CA");
    let ca = ca.to_str().expect("a UTF-8 temporary path");

    let node = NodeProcess::start(&redis.url(), "tls", &["--redis-ca-file", ca]);
    let c = client();
    let ready = wait_until(Duration::from_secs(10), || async {
        node.get_json(&c, "/readyz").await.0 == 200
    })
    .await;
    assert!(
        ready,
        "node not ready over TLS: {:?}",
        node.get_json(&c, "/readyz").await
    );
    let (status, body) = node.check(&c, "user:1").await;
    assert_eq!((status, body.get("degraded")), (200, None), "{body}");

    let wrong = NodeProcess::start(
        &format!("rediss://:wrong@127.0.0.1:{}", redis.port()),
        "tls-wrong",
        &["--redis-ca-file", ca],
    );
    let (status, body) = wrong.get_json(&c, "/readyz").await;
    assert_eq!(status, 503, "a wrong password is not ready: {body}");
}
