//! Property tests of the PD and Prometheus answers' parsing, through `TikvSubject::observe`
//! against a scripted HTTP server: byte sizes as PD writes them and per-instance samples parse to
//! what generated them; answers of any shape (garbage bytes, wrong JSON types, error statuses)
//! give an observation or a typed error, never a panic.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use operator_core::Subject;
use operator_tikv::{TikvConfig, TikvSubject};
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const STORES: &str = include_str!("../src/simulator/fixtures/pd_stores.json");
const MEMBERS: &str = include_str!("../src/simulator/fixtures/pd_members.json");
const HEALTH: &str = include_str!("../src/simulator/fixtures/pd_health.json");
const REGIONS: &str = include_str!("../src/simulator/fixtures/pd_stats_region.json");
const QPS: &str = include_str!("../src/simulator/fixtures/prometheus_qps.json");
const P99: &str = include_str!("../src/simulator/fixtures/prometheus_p99.json");

/// The six answers of one observation, by route.
type Answers = BTreeMap<&'static str, (u16, Vec<u8>)>;

fn route(target: &str) -> &'static str {
    let path = target.split('?').next().unwrap_or("");
    match path {
        "/pd/api/v1/stores" => "stores",
        "/pd/api/v1/members" => "members",
        "/pd/api/v1/health" => "health",
        "/pd/api/v1/stats/region" => "region",
        "/api/v1/query" if target.contains("histogram_quantile") => "p99",
        "/api/v1/query" => "qps",
        _ => "other",
    }
}

/// Serves the current `answers` to every request (one per connection), until dropped.
async fn scripted_server(
    answers: Arc<Mutex<Answers>>,
) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            let answers = Arc::clone(&answers);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&head);
                let target = text.split(' ').nth(1).unwrap_or("").to_owned();
                let (status, body) = answers
                    .lock()
                    .unwrap()
                    .get(route(&target))
                    .cloned()
                    .unwrap_or((404, b"{}".to_vec()));
                let reply = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(reply.as_bytes()).await;
                let _ = stream.write_all(&body).await;
            });
        }
    });
    (addr, task)
}

fn fixture_answers() -> Answers {
    [
        ("stores", STORES),
        ("members", MEMBERS),
        ("health", HEALTH),
        ("region", REGIONS),
        ("qps", QPS),
        ("p99", P99),
    ]
    .into_iter()
    .map(|(r, b)| (r, (200, b.as_bytes().to_vec())))
    .collect()
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        prop::sample::select(vec![
            "98.31GiB", "-1GiB", "1e400", "NaN", "+Inf", "1.2.3KiB", "12XB", ""
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Replaces the value at a pseudo-random place of `doc` (picked by `pick`) with `with`.
fn mutate(doc: &mut Value, pick: u64, with: Value) {
    let len = match doc {
        Value::Object(m) => m.len(),
        Value::Array(a) => a.len(),
        _ => 0,
    };
    if len == 0 {
        *doc = with;
        return;
    }
    let i = usize::try_from(pick % len as u64).unwrap();
    let child = match doc {
        Value::Object(m) => m.values_mut().nth(i),
        Value::Array(a) => a.get_mut(i),
        _ => None,
    };
    match child {
        Some(c) if pick / 7 > 0 => mutate(c, pick / 7, with),
        Some(c) => *c = with,
        None => *doc = with,
    }
}

/// One route's answer: the fixture with one value replaced, any JSON, bytes, or an error status.
fn answer(fixture: &'static str) -> impl Strategy<Value = (u16, Vec<u8>)> {
    prop_oneof![
        4 => (any::<u64>(), any_json()).prop_map(move |(pick, with)| {
            let mut doc: Value = serde_json::from_str(fixture).unwrap();
            mutate(&mut doc, pick, with);
            (200, doc.to_string().into_bytes())
        }),
        1 => Just((200, fixture.as_bytes().to_vec())),
        1 => any_json().prop_map(|v| (200, v.to_string().into_bytes())),
        1 => prop::collection::vec(any::<u8>(), 0..200).prop_map(|b| (200, b)),
        1 => (prop::sample::select(vec![204u16, 301, 400, 404, 500, 503]), any_json())
            .prop_map(|(s, v)| (s, v.to_string().into_bytes())),
    ]
}

fn answers() -> impl Strategy<Value = Answers> {
    (
        answer(STORES),
        answer(MEMBERS),
        answer(HEALTH),
        answer(REGIONS),
        answer(QPS),
        answer(P99),
    )
        .prop_map(|(s, m, h, r, q, p)| {
            [
                ("stores", s),
                ("members", m),
                ("health", h),
                ("region", r),
                ("qps", q),
                ("p99", p),
            ]
            .into_iter()
            .collect()
        })
}

/// A byte size as PD prints it (up to four significant digits and a binary unit), and its
/// value in bytes.
fn byte_size() -> impl Strategy<Value = (String, u64)> {
    let units = vec![
        ("B", 0),
        ("KiB", 1),
        ("MiB", 2),
        ("GiB", 3),
        ("TiB", 4),
        ("PiB", 5),
    ];
    (0u32..10_000, 0u32..4, prop::sample::select(units)).prop_map(
        |(digits, decimals, (unit, power))| {
            let value = f64::from(digits) / 10f64.powi(i32::try_from(decimals).unwrap());
            let text = format!("{value}{unit}");
            (text, (value * 1024f64.powi(power)).round() as u64)
        },
    )
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(RunnerConfig {
        cases,
        failure_persistence: None,
        ..RunnerConfig::default()
    })
}

fn setup() -> (
    tokio::runtime::Runtime,
    Arc<Mutex<Answers>>,
    TikvSubject,
    tokio::task::JoinHandle<()>,
) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let answers = Arc::new(Mutex::new(fixture_answers()));
    let (addr, server) = rt.block_on(scripted_server(Arc::clone(&answers)));
    let url = format!("http://{addr}");
    let config = TikvConfig::default()
        .pd_endpoints([url.clone()])
        .prometheus(Some(url))
        .request_timeout(Duration::from_secs(5));
    (
        rt,
        answers,
        TikvSubject::new(config).expect("valid configuration"),
        server,
    )
}

#[test]
fn answers_of_any_shape_give_an_observation_or_a_typed_error() {
    let (rt, script, subject, server) = setup();
    let outcomes = Mutex::new((0u32, 0u32));
    let result = runner(256).run(&answers(), |answers| {
        *script.lock().unwrap() = answers;
        let observed = rt.block_on(subject.observe());
        let mut o = outcomes.lock().unwrap();
        match observed {
            Ok(obs) => {
                o.0 += 1;
                for s in &obs.stores {
                    if let Some(r) = s.available_ratio() {
                        prop_assert!(r.is_finite() && r >= 0.0, "{:?}", s);
                    }
                }
            }
            Err(e) => {
                o.1 += 1;
                prop_assert!(!e.to_string().is_empty());
            }
        }
        Ok(())
    });
    server.abort();
    result.unwrap();
    let (ok, failed) = outcomes.into_inner().unwrap();
    assert!(
        ok > 10 && failed > 10,
        "both outcomes occur: {ok} observations, {failed} errors"
    );
}

#[test]
fn sizes_and_samples_parse_to_what_generated_them() {
    let (rt, script, subject, server) = setup();
    let value_text = prop_oneof![
        any::<f64>().prop_map(|v| v.to_string()),
        (0u32..1_000_000).prop_map(|v| format!("{}", f64::from(v) / 1000.0)),
        prop::sample::select(vec!["NaN", "+Inf", "-Inf", "not a number"]).prop_map(str::to_owned),
    ];
    let case = (byte_size(), byte_size(), value_text.clone(), value_text);
    let result = runner(256).run(&case, |((cap_text, cap), (avail_text, avail), qps, p99)| {
        let mut stores: Value = serde_json::from_str(STORES).unwrap();
        stores["stores"][0]["status"]["capacity"] = json!(cap_text);
        stores["stores"][0]["status"]["available"] = json!(avail_text);
        let sample = |v: &str| {
            json!({"status": "success", "data": {"resultType": "vector", "result": [
                {"metric": {"instance": "tikv1:20180"}, "value": [1735693200.781, v]}
            ]}})
        };
        {
            let mut s = script.lock().unwrap();
            *s = fixture_answers();
            s.insert("stores", (200, stores.to_string().into_bytes()));
            s.insert("qps", (200, sample(&qps).to_string().into_bytes()));
            s.insert("p99", (200, sample(&p99).to_string().into_bytes()));
        }
        let obs = rt
            .block_on(subject.observe())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let store = obs.store(1).expect("store 1");
        prop_assert_eq!(
            (store.capacity_bytes, store.available_bytes),
            (cap, avail),
            "{} {}",
            cap_text,
            avail_text
        );
        let finite = |t: &str| t.parse::<f64>().ok().filter(|v| v.is_finite());
        prop_assert_eq!(store.qps, finite(&qps));
        prop_assert_eq!(store.grpc_p99_seconds, finite(&p99));
        Ok(())
    });
    server.abort();
    result.unwrap();
}
