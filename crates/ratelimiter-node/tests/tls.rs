//! `rediss://` with a password: the node talks TLS to Redis and authenticates.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use support::{NodeProcess, client, wait_until};
use test_support::{ChildGuard, free_port};

/// A CA and a server certificate for 127.0.0.1 signed by it, made with the `openssl` command.
/// Returns (ca.pem, cert.pem, key.pem).
fn certificates(dir: &std::path::Path) -> (String, String, String) {
    let p = |name: &str| dir.join(name).display().to_string();
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    let steps: [&[&str]; 3] = [
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=test-ca",
            "-keyout",
            &p("ca.key"),
            "-out",
            &p("ca.pem"),
        ],
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            &p("key.pem"),
            "-out",
            &p("req.csr"),
        ],
        &[
            "x509",
            "-req",
            "-in",
            &p("req.csr"),
            "-CA",
            &p("ca.pem"),
            "-CAkey",
            &p("ca.key"),
            "-CAcreateserial",
            "-days",
            "1",
            "-out",
            &p("cert.pem"),
            "-extfile",
            &p("ext.cnf"),
        ],
    ];
    for args in steps {
        let status = Command::new("openssl")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("the `openssl` command is needed to make test certificates (apt-get install openssl)");
        assert!(status.success(), "openssl {args:?} failed");
    }
    (p("ca.pem"), p("cert.pem"), p("key.pem"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_with_a_password_works() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(dir.path());
    let port = free_port();
    let mut cmd = Command::new(test_support::redis::redis_server_bin());
    cmd.args([
        "--port",
        "0",
        "--tls-port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
    ])
    .args([
        "--tls-cert-file",
        &cert,
        "--tls-key-file",
        &key,
        "--tls-ca-cert-file",
        &ca,
        "--tls-auth-clients",
        "no",
    ])
    .args(["--requirepass", "s3cret", "--loglevel", "warning"])
    .arg("--dir")
    .arg(dir.path())
    .stdout(Stdio::null());
    let _redis = ChildGuard::spawn("redis-server (tls)", &mut cmd);

    let url = format!("rediss://:s3cret@127.0.0.1:{port}");
    let node = NodeProcess::start(&url, "tls", &["--redis-ca-file", &ca]).await;
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
        &format!("rediss://:wrong@127.0.0.1:{port}"),
        "tls-wrong",
        &["--redis-ca-file", &ca],
    )
    .await;
    let (status, body) = wrong.get_json(&c, "/readyz").await;
    assert_eq!(status, 503, "a wrong password is not ready: {body}");
}
