//! Who the client is: forged `X-Forwarded-For` from untrusted peers is ignored; behind a trusted
//! proxy (a real nginx) each client gets its own limit.

use test_support::RedisServer;

use super::support::{NodeProcess, redis_conn};
use super::{all_redis_keys, client_from, get, tight_policies};
use crate::nginx::Nginx;

const LIMIT: u64 = 3;

/// The statuses of `n` `GET /api/request` with `headers`.
async fn statuses(c: &reqwest::Client, url: &str, headers: &[(&str, &str)], n: usize) -> Vec<u16> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(get(c, url, headers).await.0);
    }
    out
}

fn allowed(statuses: &[u16]) -> usize {
    statuses.iter().filter(|s| **s == 200).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_forwarded_for_from_an_untrusted_peer_is_ignored() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let policies = tight_policies(&dir, LIMIT);
    // A trusted range that does not hold the test's addresses: the headers must be ignored.
    let node = NodeProcess::builder(&redis.url(), "a")
        .args(["--policies", policies.to_str().unwrap()])
        .env("RATELIMITER_TRUSTED_PROXIES", "10.0.0.0/8")
        .start();
    let url = node.url_for("/api/request");
    let c = client_from("127.0.0.1");
    let mut got = Vec::new();
    for (xff, fwd) in [
        ("1.1.1.1", "for=1.1.1.1"),
        ("2.2.2.2", "for=2.2.2.2"),
        ("10.0.0.1, 3.3.3.3", "for=3.3.3.3"),
    ] {
        let headers = [("x-forwarded-for", xff), ("forwarded", fwd)];
        got.extend(statuses(&c, &url, &headers, 2).await);
    }
    assert_eq!(
        allowed(&got),
        LIMIT as usize,
        "three forgers from one address share one limit: {got:?}"
    );
    let keys = all_redis_keys(&mut redis_conn(&redis.url()));
    let counters: Vec<&String> = keys.iter().filter(|k| k.contains(":c:{")).collect();
    assert_eq!(
        counters,
        vec!["ratelimit:c:{ip:127.0.0.1}:by-ip:60000"],
        "keyed by the peer only"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_nginx_each_client_has_its_own_limit() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let policies = tight_policies(&dir, LIMIT);
    // nginx connects to the node from 127.0.0.2, the only trusted address; clients come from
    // other loopback addresses, as they would from other hosts.
    let node = NodeProcess::builder(&redis.url(), "a")
        .args(["--policies", policies.to_str().unwrap()])
        .env("RATELIMITER_TRUSTED_PROXIES", "127.0.0.2/32")
        .start();
    let lb = Nginx::start(node.port, "127.0.0.2");
    let url = lb.url_for("/api/request");
    let (a, b) = (client_from("127.0.0.3"), client_from("127.0.0.4"));
    // Client a forges a new address each time: nginx appends the real one, which is what counts.
    let mut from_a = Vec::new();
    for i in 0..LIMIT + 2 {
        let forged = format!("9.9.9.{i}, 127.0.0.2");
        from_a.push(get(&a, &url, &[("x-forwarded-for", &forged)]).await.0);
    }
    assert_eq!(allowed(&from_a), LIMIT as usize, "a: {from_a:?}");
    assert_eq!(*from_a.last().unwrap(), 429);
    let from_b = statuses(&b, &url, &[], LIMIT as usize).await;
    assert_eq!(
        allowed(&from_b),
        LIMIT as usize,
        "b is served while a is limited: {from_b:?}"
    );
    let mut keys: Vec<String> = all_redis_keys(&mut redis_conn(&redis.url()))
        .into_iter()
        .filter(|k| k.contains(":c:{"))
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        vec![
            "ratelimit:c:{ip:127.0.0.3}:by-ip:60000",
            "ratelimit:c:{ip:127.0.0.4}:by-ip:60000",
        ]
    );
    // The same forged header sent straight to the node (peer 127.0.0.5, untrusted) is ignored.
    let direct = client_from("127.0.0.5");
    let headers = [("x-forwarded-for", "127.0.0.4")];
    assert_eq!(
        get(&direct, &node.url_for("/api/request"), &headers)
            .await
            .0,
        200
    );
    assert!(
        all_redis_keys(&mut redis_conn(&redis.url()))
            .contains(&"ratelimit:c:{ip:127.0.0.5}:by-ip:60000".to_owned())
    );
}

#[test]
fn a_bad_trusted_proxy_is_refused_at_start_naming_the_flag() {
    for (how, value) in [("flag", "10.0.0.0/33"), ("env", "nginx")] {
        let mut cmd = std::process::Command::new(test_support::workspace_bin("ratelimiter-node"));
        cmd.args([
            "--listen",
            "127.0.0.1:0",
            "--redis-url",
            "redis://127.0.0.1:1",
        ]);
        if how == "flag" {
            cmd.args(["--trusted-proxies", &format!("172.28.0.10/32,{value}")]);
        } else {
            cmd.env("RATELIMITER_TRUSTED_PROXIES", value);
        }
        let out = cmd.output().expect("run ratelimiter-node");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{how}: {stderr}");
        assert!(stderr.contains("--trusted-proxies"), "{how}: {stderr}");
    }
}
