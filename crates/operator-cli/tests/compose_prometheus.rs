//! The compose stack's own monitoring, verified (issue 16), and its gateway (issue 14):
//!
//! - `the_compose_prometheus_scrapes_every_node_and_the_gateway_limits_app`: the stack of
//!   `docker-compose.ratelimit.yml` with its Prometheus service on an image built here from
//!   Debian's `prometheus` binary (`PROMETHEUS_IMAGE`; the engine cannot pull the public one).
//!   Every node's target is up, the decisions taken through the load balancer arrive in
//!   Prometheus exactly, and every query of the provisioned Grafana dashboard is accepted and
//!   returns series. On the way, nginx's `/app/` (auth_request to the nodes' forward-auth in
//!   front of a sample upstream) limits a client exactly and passes the RateLimit headers on.
//! - `every_dashboard_query_names_what_a_real_node_exports`: no Docker; each metric, label and
//!   label value the dashboard's queries select exists on a real node's `/metrics`.
//!
//! Without a Docker engine the first test says so loudly and does not run, unless
//! `OPERATOR_REQUIRE_DOCKER` is set (as in compose_ratelimit.rs).

mod support;

#[path = "compose_prometheus/promql.rs"]
mod promql;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use support::compose::{
    ADMIN_TOKEN, CORE_SERVICES, Project, docker_or_say_so, engine, images, repo_root,
};
use test_support::docker::{ImageFile, build_scratch_image, run, which};
use test_support::http::request_with;
use test_support::{NodeProcess, RedisServer, free_ports, wait_for};

/// Every PromQL expression of the provisioned dashboard, with its panel's title.
fn dashboard_queries() -> Vec<(String, String)> {
    let path = repo_root().join("deploy/ratelimit/grafana/dashboards/ratelimiter.json");
    let text = std::fs::read_to_string(&path).expect("read the dashboard");
    let dashboard: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let mut out = Vec::new();
    collect_queries(&dashboard, &mut out);
    assert!(out.len() >= 5, "the dashboard has queries: {out:?}");
    out
}

fn collect_queries(panel: &Value, out: &mut Vec<(String, String)>) {
    for p in panel["panels"].as_array().into_iter().flatten() {
        let title = p["title"].as_str().unwrap_or("").to_owned();
        for t in p["targets"].as_array().into_iter().flatten() {
            if let Some(expr) = t["expr"].as_str() {
                out.push((title.clone(), expr.to_owned()));
            }
        }
        collect_queries(p, out);
    }
}

#[test]
fn every_dashboard_query_names_what_a_real_node_exports() {
    let redis = RedisServer::start();
    let node = NodeProcess::start(&redis.url(), "dash", &[]);
    let (status, page) = test_support::http::get(node.port, "/metrics").expect("GET /metrics");
    assert_eq!(status, 200);
    let exported = promql::series(&page);
    let mut wrong = Vec::new();
    for (title, expr) in dashboard_queries() {
        let names = promql::names(&expr);
        assert!(!names.selectors.is_empty(), "{title}: no metric in {expr}");
        let mut labels_here = std::collections::BTreeSet::new();
        for selector in &names.selectors {
            let Some(samples) = exported.get(&selector.metric) else {
                wrong.push(format!("{title}: {} is not exported", selector.metric));
                continue;
            };
            labels_here.extend(samples.iter().flat_map(|s| s.keys().cloned()));
            for m in &selector.matchers {
                let matches = |v: &str| match m.op.as_str() {
                    "=" => v == m.value,
                    "=~" => promql::regex_matches(&m.value, v),
                    _ => true,
                };
                let hit = samples
                    .iter()
                    .any(|s| s.get(&m.label).is_some_and(|v| matches(v)));
                if !hit {
                    wrong.push(format!(
                        "{title}: no series of {} has {}{}{:?}",
                        selector.metric, m.label, m.op, m.value
                    ));
                }
            }
        }
        for label in &names.grouping {
            if !labels_here.contains(label) {
                wrong.push(format!(
                    "{title}: no series of {expr} has the label {label}"
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "the dashboard asks for what no node exports:\n{}",
        wrong.join("\n")
    );
}

/// An image `FROM scratch` with Debian's `prometheus`, run as the public image is (config in
/// /etc/prometheus, data in /prometheus). Removed on drop.
struct PrometheusImage(String);

impl PrometheusImage {
    fn build() -> Self {
        let bin = which("prometheus").unwrap_or_else(|| {
            panic!("prometheus is not installed: `sudo apt-get install -y prometheus` (./scripts/test does it)")
        });
        let tag = format!("operator-test/prometheus:{}", std::process::id());
        build_scratch_image(
            &tag,
            &[ImageFile::new(bin, "/bin/prometheus")],
            &[],
            &["/prometheus", "/etc/prometheus"],
            "WORKDIR /prometheus\nENTRYPOINT [\"/bin/prometheus\"]\n\
             CMD [\"--config.file=/etc/prometheus/prometheus.yml\", \"--storage.tsdb.path=/prometheus\"]",
        );
        Self(tag)
    }
}

impl Drop for PrometheusImage {
    fn drop(&mut self) {
        let _ = run(Command::new("docker").args(["rmi", "-f", &self.0]));
    }
}

/// A `GET` on 127.0.0.1:`port` from this host: status, raw header block (lowercased), body.
fn get_raw(port: u16, path: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).expect("send");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("read");
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not HTTP: {raw:?}"));
    (status, head.to_ascii_lowercase(), body.to_owned())
}

/// The value of header `name` (lowercase) in a raw header block.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .map(str::trim)
}

/// Prometheus's answer to `GET /api/v1/<path>`, checked to be a success.
fn prom_api(port: u16, path: &str) -> Value {
    let (status, _, body) = get_raw(port, &format!("/api/v1/{path}"));
    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    assert!(
        status == 200 && v["status"] == "success",
        "{path}: {status} {body}"
    );
    v["data"].clone()
}

fn query(port: u16, expr: &str) -> Vec<Value> {
    let encoded: String = expr
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    prom_api(port, &format!("query?query={encoded}"))["result"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn the_compose_prometheus_scrapes_every_node_and_the_gateway_limits_app() {
    if !docker_or_say_so("the_compose_prometheus_scrapes_every_node") {
        return;
    }
    let images = images();
    let prometheus = PrometheusImage::build();
    let _engine = engine();
    let [redis_port, n1, n2, n3, lb, prom] = <[u16; 6]>::try_from(free_ports(6)).expect("ports");
    let mut env = images.env_with_subnet("172.28.3");
    env.extend([
        ("PROMETHEUS_IMAGE".into(), prometheus.0.clone()),
        ("REDIS_PORT".into(), redis_port.to_string()),
        ("NODE1_PORT".into(), n1.to_string()),
        ("NODE2_PORT".into(), n2.to_string()),
        ("NODE3_PORT".into(), n3.to_string()),
        ("LB_PORT".into(), lb.to_string()),
        ("PROMETHEUS_PORT".into(), prom.to_string()),
    ]);
    let project = Project::new(&format!("opsprom{}", std::process::id()), env);
    let mut up = vec!["up", "-d", "--no-build"];
    up.extend(CORE_SERVICES);
    up.push("prometheus");
    project.ok(&up);
    project.wait_healthy(Duration::from_secs(120));

    // The gateway: a client limited to 3 an hour through /app/, every node agreeing first.
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let auth = [("Authorization", bearer.as_str())];
    let policy = r#"{"match":"ip:*","windows":[{"limit":3,"window_ms":3600000}]}"#;
    let (status, body) =
        request_with(lb, "PUT", "/v1/policies/gateway", Some(policy), &auth).unwrap();
    assert!((200..300).contains(&status), "{status} {body}");
    let stored = serde_json::from_str::<Value>(&body).unwrap()["version"]
        .as_u64()
        .unwrap();
    let synced = wait_for(Duration::from_secs(10), || {
        [n1, n2, n3].iter().all(|&port| {
            request_with(port, "GET", "/v1/node", None, &auth)
                .ok()
                .and_then(|(_, b)| serde_json::from_str::<Value>(&b).ok())
                .and_then(|v| v["policy_version"].as_u64())
                .is_some_and(|v| v >= stored)
        })
    });
    assert!(synced, "every node loads the gateway policy");
    for i in 0..3 {
        let (status, head, body) = get_raw(lb, &format!("/app/orders/{i}"));
        assert_eq!(status, 200, "{head}{body}");
        assert!(body.contains("sample upstream"), "{body}");
        let seen = header(&head, "x-upstream-saw-ratelimit").unwrap_or("");
        assert!(
            seen.starts_with(&format!("\"gateway/1h\";r={};t=", 2 - i)),
            "the upstream got the RateLimit header: {head}"
        );
        assert_eq!(header(&head, "ratelimit"), Some(seen));
    }
    let (status, head, body) = get_raw(lb, "/app/orders/3");
    assert_eq!(status, 429, "{head}{body}");
    assert!(body.contains("rate_limited"), "{body}");
    assert!(header(&head, "retry-after").is_some(), "{head}");
    // And a few decisions straight through the load balancer, all allowed by `default`.
    for _ in 0..5 {
        let (status, body) =
            request_with(lb, "POST", "/v1/check", Some(r#"{"key":"prom:1"}"#), &[]).unwrap();
        assert_eq!(status, 200, "{body}");
    }

    // Prometheus: every node's target up, and the 8 allowed and 1 denied decisions arrive.
    let all_up = wait_for(Duration::from_secs(60), || {
        let targets = prom_api(prom, "targets")["activeTargets"].clone();
        let mut up: Vec<String> = targets
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| t["health"] == "up")
            .map(|t| t["labels"]["instance"].as_str().unwrap_or("").to_owned())
            .collect();
        up.sort();
        up == [
            "ratelimiter-1:8080",
            "ratelimiter-2:8080",
            "ratelimiter-3:8080",
        ]
    });
    assert!(all_up, "targets: {}", prom_api(prom, "targets"));
    let total = |result: &str| -> Option<f64> {
        let rows = query(
            prom,
            &format!("sum(ratelimiter_decisions_total{{result=\"{result}\"}})"),
        );
        rows.first()?["value"][1].as_str()?.parse().ok()
    };
    let arrived = wait_for(Duration::from_secs(30), || {
        total("allowed") == Some(8.0) && total("denied") == Some(1.0)
    });
    assert!(
        arrived,
        "allowed {:?}, denied {:?}",
        total("allowed"),
        total("denied")
    );
    let nodes = query(prom, "count by (node) (ratelimiter_decisions_total)");
    assert_eq!(nodes.len(), 3, "each node's series: {nodes:?}");
    // Every dashboard query runs and returns series (rates need two scrapes: wait for them).
    let queries = dashboard_queries();
    let answered = wait_for(Duration::from_secs(30), || {
        queries
            .iter()
            .all(|(_, expr)| !query(prom, expr).is_empty())
    });
    let empty: Vec<&String> = queries
        .iter()
        .filter(|(_, expr)| query(prom, expr).is_empty())
        .map(|(_, expr)| expr)
        .collect();
    assert!(answered, "queries without series: {empty:?}");
}
