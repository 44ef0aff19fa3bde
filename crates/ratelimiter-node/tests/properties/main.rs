//! Property tests of the node's HTTP surface and its policies file: arbitrary methods, paths,
//! queries, headers and bodies sent byte for byte to an in-process node (on one real Redis)
//! never get a 5xx or kill it, and every error answer is JSON with a known `ErrorCode`; the
//! TOML policies file round-trips and refuses garbage with a typed error; the sliding-window
//! arithmetic keeps its limits over generated request sequences.

mod algorithm;
mod raw_http;
mod strategies;
mod toml_file;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};
use ratelimiter_node::{Config, Node};
use ratelimiter_schema::ErrorBody;
use test_support::RedisServer;
use tokio::runtime::Runtime;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use raw_http::{Reply, exchange, request};

/// The admin token of the second node.
const TOKEN: &str = "fuzz-admin-token-1";

/// A node served in process, stopped on drop.
struct ServedNode {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    served: Option<JoinHandle<std::io::Result<()>>>,
}

fn serve_node(rt: &Runtime, redis: &RedisServer, id: &str, token: Option<&str>) -> ServedNode {
    rt.block_on(async {
        let config = Config {
            redis_url: redis.url(),
            node_id: id.to_owned(),
            // Generous: a loaded machine must not turn a slow call into a 503.
            redis_timeout: Duration::from_secs(2),
            admin_token: token.map(str::to_owned),
            ..Config::default()
        };
        let node: Arc<Node> = Node::new(config).expect("valid configuration");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(ratelimiter_node::serve(listener, node, async {
            let _ = stopped.await;
        }));
        let health = request(b"GET", b"/healthz", &[], b"");
        for _ in 0..100 {
            if exchange(addr, &health)
                .await
                .is_some_and(|r| r.status == 200)
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        ServedNode {
            addr,
            stop: Some(stop),
            served: Some(served),
        }
    })
}

impl ServedNode {
    fn stop(&mut self, rt: &Runtime) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(served) = self.served.take() {
            let _ =
                rt.block_on(async { tokio::time::timeout(Duration::from_secs(5), served).await });
        }
    }
}

/// Panics on the runtime's threads (in a handler or the server), counted by a panic hook: a
/// panic there only drops one connection, so the answers alone would not always show it.
static SERVER_PANICS: AtomicUsize = AtomicUsize::new(0);

fn count_server_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let on_runtime = std::thread::current()
            .name()
            .is_some_and(|n| n.starts_with("tokio-runtime-worker"));
        if on_runtime {
            SERVER_PANICS.fetch_add(1, Ordering::SeqCst);
        }
        previous(info);
    }));
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(RunnerConfig {
        cases,
        failure_persistence: None,
        ..RunnerConfig::default()
    })
}

/// What every answer to a well-formed request must be: no 5xx, and every error (but a
/// decision's 429) a JSON [`ErrorBody`] with a known code and a detail.
fn check_answer(method: &[u8], raw: &[u8], reply: Option<Reply>) -> Result<(), TestCaseError> {
    let shown = String::from_utf8_lossy(raw);
    let Some(reply) = reply else {
        return Err(TestCaseError::fail(format!("no answer to {shown:?}")));
    };
    let body = String::from_utf8_lossy(&reply.body);
    prop_assert!(
        reply.status < 500,
        "{} for {:?}: {}",
        reply.status,
        shown,
        body
    );
    if reply.status < 400 || method == b"HEAD" {
        return Ok(());
    }
    if reply.status == 429 {
        let denial = serde_json::from_slice::<serde_json::Value>(&reply.body)
            .is_ok_and(|v| v["allowed"] == false);
        if denial {
            return Ok(());
        }
    }
    let error: ErrorBody = serde_json::from_slice(&reply.body).map_err(|e| {
        TestCaseError::fail(format!(
            "{} for {shown:?}: body is not an ErrorBody ({e}): {body:?}",
            reply.status
        ))
    })?;
    prop_assert!(!error.detail.is_empty(), "{:?}: empty detail", shown);
    prop_assert_eq!(
        reply.header("content-type"),
        Some("application/json"),
        "{:?}",
        shown
    );
    Ok(())
}

/// Every key under the prefix has a TTL (nothing the fuzzing wrote lives forever).
fn assert_every_key_expires(redis: &RedisServer) {
    let mut conn = redis::Client::open(redis.url())
        .expect("redis url")
        .get_connection()
        .expect("redis connection");
    let keys: Vec<Vec<u8>> = redis::cmd("KEYS").arg("*").query(&mut conn).expect("KEYS");
    assert!(!keys.is_empty(), "the decisions wrote counters");
    for key in keys {
        let ttl: i64 = redis::cmd("PTTL").arg(&key).query(&mut conn).expect("PTTL");
        // -2: expired since KEYS (a counter of a 1 ms window lives 2 ms); -1: no TTL at all.
        assert_ne!(ttl, -1, "{:?} has no TTL", String::from_utf8_lossy(&key));
    }
}

#[test]
fn arbitrary_requests_never_get_a_5xx_and_errors_are_json() {
    count_server_panics();
    let redis = RedisServer::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut open = serve_node(&rt, &redis, "fuzz-open", None);
    let mut guarded = serve_node(&rt, &redis, "fuzz-guarded", Some(TOKEN));
    // Keys ending in `hot` (which the generators use often) allow 1 per hour, so denials occur.
    let hot = br#"{"match": "*hot", "windows": [{"limit": 1, "window_ms": 3600000}]}"#;
    let put = rt.block_on(exchange(
        open.addr,
        &request(b"PUT", b"/v1/policies/hot", &[], hot),
    ));
    assert_eq!(put.map(|r| r.status), Some(200), "the hot policy is stored");
    let mut results = Vec::new();
    let statuses: Mutex<BTreeMap<u16, usize>> = Mutex::default();
    for (node, cases) in [(&open, 384), (&guarded, 256)] {
        let addr = node.addr;
        let result = runner(cases).run(&strategies::well_formed(TOKEN), |case| {
            let raw = case.bytes();
            let reply = rt.block_on(exchange(addr, &raw));
            if let Some(r) = &reply {
                *statuses.lock().unwrap().entry(r.status).or_default() += 1;
            }
            check_answer(&case.method, &raw, reply)
        });
        results.push(result.map_err(|e| e.to_string()));
    }
    let addr = open.addr;
    let garbage_answers = AtomicUsize::new(0);
    let garbage = runner(256).run(&strategies::garbage(), |raw| {
        if let Some(reply) = rt.block_on(exchange(addr, &raw)) {
            garbage_answers.fetch_add(1, Ordering::Relaxed);
            prop_assert!(
                reply.status < 500,
                "{} for {:?}",
                reply.status,
                String::from_utf8_lossy(&raw)
            );
        }
        Ok(())
    });
    results.push(garbage.map_err(|e| e.to_string()));
    // Both nodes still serve.
    for node in [&open, &guarded] {
        let health = rt.block_on(exchange(node.addr, &request(b"GET", b"/healthz", &[], b"")));
        assert_eq!(health.map(|r| r.status), Some(200), "the node still serves");
    }
    open.stop(&rt);
    guarded.stop(&rt);
    assert_eq!(SERVER_PANICS.load(Ordering::SeqCst), 0, "the node panicked");
    for result in results {
        if let Err(e) = result {
            panic!("{e}");
        }
    }
    // The generators reach every kind of answer (else they test nothing).
    let statuses = statuses.into_inner().unwrap();
    for status in [200, 400, 401, 404, 405, 429] {
        assert!(
            statuses.contains_key(&status),
            "no {status} among {statuses:?}"
        );
    }
    assert!(
        garbage_answers.into_inner() > 50,
        "the garbage mostly got an answer (a 400 from the HTTP layer)"
    );
    assert_every_key_expires(&redis);
}
