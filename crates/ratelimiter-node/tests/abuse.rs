//! Abuse protection with real processes: a client guessing API keys is blocked on every node
//! sharing the Redis while another client is served; a honeypot key blocks at once; with the
//! limit off nothing is blocked; blocked clients appear only as fingerprints, and every key the
//! guard writes has a TTL.

mod support;

use std::net::IpAddr;
use std::time::Duration;

use support::{NodeApi, NodeProcess, redis_conn};
use test_support::RedisServer;

/// An HTTP client whose connections come from `addr` (a loopback address: 127.0.0.x are all
/// local on Linux), so one test can play several clients.
fn client_from(addr: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(addr.parse::<IpAddr>().expect("address"))
        .timeout(Duration::from_secs(10))
        .build()
        .expect("http client")
}

/// `GET /api/request` with `X-API-Key: key`: the status, the error code if any, and
/// `Retry-After`.
async fn api(client: &reqwest::Client, node: &NodeProcess, key: &str) -> (u16, String, String) {
    let r = client
        .get(node.url_for("/api/request"))
        .header("x-api-key", key)
        .send()
        .await
        .expect("api request");
    let status = r.status().as_u16();
    let retry = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body: serde_json::Value = r.json().await.unwrap_or(serde_json::Value::Null);
    let code = body["error"].as_str().unwrap_or("").to_owned();
    (status, code, retry)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_keys_gets_a_client_blocked_on_every_node_while_others_are_served() {
    let redis = RedisServer::start();
    let a = NodeProcess::start(&redis.url(), "abuse-a", &[]);
    let b = NodeProcess::start(&redis.url(), "abuse-b", &[]);
    let attacker = client_from("127.0.0.1");
    let other = client_from("127.0.0.2");

    // Distinct keys are counted per minute: keep the guesses within one.
    let into_minute = support::redis_now_ms(&mut redis_conn(&redis.url())) % 60_000;
    if into_minute > 50_000 {
        tokio::time::sleep(Duration::from_millis(60_500 - into_minute)).await;
    }
    let mut first_blocked = None;
    for i in 0..300 {
        let (status, code, retry) = api(&attacker, &a, &format!("sk-guess-{i:04}")).await;
        assert!(status == 200 || status == 429, "guess {i}: {status} {code}");
        if code == "client_blocked" {
            assert_eq!(status, 429);
            let secs: u64 = retry.parse().expect("Retry-After in seconds");
            assert!((590..=600).contains(&secs), "Retry-After {secs}");
            first_blocked.get_or_insert(i);
        } else {
            assert!(
                first_blocked.is_none(),
                "guess {i} served after the block: {status} {code}"
            );
        }
    }
    let first = first_blocked.expect("300 guessed keys never blocked the client");
    // The HyperLogLog estimates within about 1 %: the block comes right past the default 100.
    assert!((95..=110).contains(&first), "blocked at guess {first}");

    let (status, code, _) = api(&attacker, &a, "sk-guess-0000").await;
    assert_eq!(
        (status, code.as_str()),
        (429, "client_blocked"),
        "a key seen before"
    );
    let (status, code, _) = api(&attacker, &b, "sk-never-seen").await;
    assert_eq!(
        (status, code.as_str()),
        (429, "client_blocked"),
        "on the second node"
    );
    let r = attacker
        .get(b.url_for("/api/request"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429, "without a key too");
    let (status, code, _) = api(&other, &a, "sk-guess-0001").await;
    assert_eq!(
        (status, code.as_str()),
        (200, ""),
        "another client is served"
    );
    let (status, _, _) = api(&other, &b, "sk-other").await;
    assert_eq!(status, 200);

    let client = support::client();
    let (_, info) = a.get_json(&client, "/v1/node").await;
    let abuse = &info["abuse"];
    assert_eq!(abuse["enumeration_limit"], 100);
    assert_eq!(abuse["enumeration_blocks"], 1, "{abuse}");
    assert!(
        abuse["blocked_requests"].as_u64().unwrap() >= 190,
        "{abuse}"
    );
    let block = &abuse["recent_blocks"][0];
    assert_eq!(block["reason"], "enumeration");
    assert!(block["distinct_keys"].as_u64().unwrap() > 100, "{block}");
    let fp = block["client"].as_str().unwrap();
    assert!(fp.starts_with("ip:fp-"), "{fp}");
    // The clients' addresses (not Redis's, which `shards` names) appear only as fingerprints.
    assert!(
        !abuse.to_string().contains("127.0.0.1"),
        "an address in clear: {abuse}"
    );
    assert!(!info.to_string().contains("sk-guess"), "a key in clear");
    let (_, info_b) = b.get_json(&client, "/v1/node").await;
    assert!(info_b["abuse"]["blocked_requests"].as_u64().unwrap() >= 2);
    assert_eq!(
        info_b["abuse"]["enumeration_blocks"], 0,
        "b only enforced a's block"
    );

    let metrics = client
        .get(a.url_for("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .contains("ratelimiter_abuse_blocks_total{node=\"abuse-a\",reason=\"enumeration\"} 1"),
        "{metrics}"
    );
    assert!(!metrics.contains("fp-"), "no client in metric labels");

    let mut conn = redis_conn(&redis.url());
    let names: Vec<String> = redis::cmd("KEYS")
        .arg("ratelimit:abuse:*")
        .query(&mut conn)
        .unwrap();
    assert!(names.iter().any(|n| n.contains(":abuse:b:{")), "{names:?}");
    for name in names {
        assert!(
            !name.contains("127.0.0.1") && !name.contains("sk-"),
            "{name}"
        );
        let ttl: i64 = redis::cmd("PTTL").arg(&name).query(&mut conn).unwrap();
        assert!(ttl > 0, "{name} has no TTL ({ttl})");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_honeypot_key_blocks_at_once_by_value_or_fingerprint() {
    let redis = RedisServer::start();
    let fp = ratelimiter_schema::fingerprint::fingerprint(None, "trap-2");
    let node = NodeProcess::start(
        &redis.url(),
        "honeypot",
        &[
            "--honeypot-keys",
            &format!("trap-1,{fp}"),
            "--enumeration-block",
            "30s",
        ],
    );
    let c1 = client_from("127.0.0.3");
    assert_eq!(api(&c1, &node, "real-key").await.0, 200);
    let (status, code, retry) = api(&c1, &node, "trap-1").await;
    assert_eq!((status, code.as_str()), (429, "client_blocked"));
    assert_eq!(retry, "30");
    let (status, code, _) = api(&c1, &node, "real-key").await;
    assert_eq!(
        (status, code.as_str()),
        (429, "client_blocked"),
        "whatever the key"
    );

    let c2 = client_from("127.0.0.4");
    assert_eq!(api(&c2, &node, "real-key").await.0, 200);
    let (status, code, _) = api(&c2, &node, "trap-2").await;
    assert_eq!(
        (status, code.as_str()),
        (429, "client_blocked"),
        "by fingerprint"
    );

    let (_, info) = node.get_json(&support::client(), "/v1/node").await;
    let abuse = &info["abuse"];
    assert_eq!(abuse["honeypot_hits"], 2, "{abuse}");
    assert_eq!(abuse["recent_blocks"].as_array().unwrap().len(), 2);
    assert_eq!(abuse["recent_blocks"][0]["reason"], "honeypot");
    assert!(
        !info.to_string().contains("trap-"),
        "a honeypot key in clear: {info}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_limit_off_nothing_is_blocked() {
    let redis = RedisServer::start();
    let node = NodeProcess::start(&redis.url(), "no-guard", &["--enumeration-limit", "0"]);
    let c = client_from("127.0.0.5");
    for i in 0..150 {
        let (status, code, _) = api(&c, &node, &format!("k{i}")).await;
        assert_eq!((status, code.as_str()), (200, ""), "key {i}");
    }
    let mut conn = redis_conn(&redis.url());
    let names: Vec<String> = redis::cmd("KEYS")
        .arg("ratelimit:abuse:*")
        .query(&mut conn)
        .unwrap();
    assert!(names.is_empty(), "no abuse key written when off: {names:?}");
}

#[test]
fn bad_abuse_flags_are_refused_naming_the_flag() {
    let bin = test_support::bins::workspace_bin("ratelimiter-node");
    for (flag, value) in [
        ("--enumeration-block", "forever"),
        ("--enumeration-block", "10ms"),
        ("--memory-guard-ratio", "1.5"),
        ("--enumeration-limit", "-1"),
    ] {
        let out = std::process::Command::new(&bin)
            .arg(format!("{flag}={value}"))
            .env_clear()
            .output()
            .expect("run node");
        assert_eq!(out.status.code(), Some(2), "{flag} {value}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(flag), "{flag} {value}: {err}");
    }
}
