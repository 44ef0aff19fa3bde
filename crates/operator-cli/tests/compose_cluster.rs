//! `docker-compose.ratelimit-cluster.yml` run for real: six Redis Cluster members and three nodes
//! in containers on the host network, with images built here (no image can be pulled). The
//! one-shot init joins the members, the nodes become healthy in cluster mode and report three
//! shards, decisions are exact across the nodes, and an operator on the host observes the
//! cluster healthy through the addresses the members announce, and names a killed primary while
//! its replica takes its slots over.
//!
//! Without a Docker engine the test says so loudly and does not run, unless
//! `OPERATOR_REQUIRE_DOCKER` is set (as in compose_ratelimit.rs).

mod support;

use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::compose::{ADMIN_TOKEN, Project, docker_or_say_so, engine, images, repo_root};
use test_support::docker::{ImageFile, build_scratch_image, run, which};
use test_support::http::request_with;

const MEMBERS: [u16; 6] = [7000, 7001, 7002, 7003, 7004, 7005];
const NODES: [u16; 3] = [8001, 8002, 8003];
const NODE_SERVICES: [&str; 3] = ["ratelimiter-1", "ratelimiter-2", "ratelimiter-3"];

/// The compose file's host ports must be free: say which is not, rather than fail obscurely.
fn assert_ports_free() {
    let ports = MEMBERS.iter().flat_map(|p| [*p, p + 10_000]).chain(NODES);
    for port in ports {
        assert!(
            TcpListener::bind(("127.0.0.1", port)).is_ok(),
            "port {port} is taken: docker-compose.ratelimit-cluster.yml runs on the host network \
             and needs 7000-7005, 17000-17005 and 8001-8003"
        );
    }
}

/// The Redis image of this file: redis-server and redis-cli, plus the `sh` and `grep` its
/// one-shot init runs (the public image has them; the test's scratch image must be given them).
struct ClusterRedisImage(String);

impl ClusterRedisImage {
    fn build() -> Self {
        let tag = format!("operator-test/redis-cluster:{}", std::process::id());
        let need = |name: &str, pkg: &str| {
            which(name).unwrap_or_else(|| panic!("{name} is missing: apt-get install -y {pkg}"))
        };
        build_scratch_image(
            &tag,
            &[
                ImageFile::new(
                    need("redis-server", "redis-server"),
                    "/usr/local/bin/redis-server",
                ),
                ImageFile::new(need("redis-cli", "redis-tools"), "/usr/local/bin/redis-cli"),
                ImageFile::new(need("sh", "dash"), "/bin/sh"),
                ImageFile::new(need("grep", "grep"), "/bin/grep"),
            ],
            &[],
            &["/data"],
            "ENV PATH=/usr/local/bin:/usr/bin:/bin\nCMD [\"redis-server\"]",
        );
        Self(tag)
    }
}

impl Drop for ClusterRedisImage {
    fn drop(&mut self) {
        let _ = run(Command::new("docker").args(["rmi", "-f", &self.0]));
    }
}

fn node_json(port: u16, path: &str) -> Value {
    let auth = format!("Bearer {ADMIN_TOKEN}");
    let (status, body) = request_with(port, "GET", path, None, &[("Authorization", &auth)])
        .unwrap_or_else(|e| panic!("GET {path} on :{port}: {e}"));
    assert_eq!(status, 200, "GET {path} on :{port}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path} is JSON ({e}): {body}"))
}

fn wait_nodes_healthy(project: &Project, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let states: Vec<String> = NODE_SERVICES.iter().map(|s| project.health(s)).collect();
        if states.iter().all(|s| s == "healthy") {
            return;
        }
        if Instant::now() > deadline {
            let logs = project.ok(&["logs", "--tail", "20"]);
            panic!("nodes not healthy after {timeout:?}: {states:?}\n{logs}");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn monitor_db() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("compose-cluster-{}.db", std::process::id()))
}

fn operator_monitor_once(urls: &str, nodes: &str) -> (i32, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_operator"))
        .args([
            "monitor",
            "--subject",
            "ratelimit",
            "--redis-mode",
            "cluster",
        ])
        .args([
            "--redis-url",
            urls,
            "--nodes",
            nodes,
            "--node-token",
            ADMIN_TOKEN,
        ])
        .args(["--once", "--json", "--db"])
        .arg(monitor_db())
        .env("OPERATOR_LOG", "error")
        .output()
        .expect("run operator");
    let text = String::from_utf8_lossy(&out.stdout);
    let doc = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "monitor --once --json prints JSON ({e}): {text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), doc)
}

#[test]
fn the_cluster_compose_file_runs_a_cluster_the_nodes_and_the_operator_use() {
    if !docker_or_say_so("the_cluster_compose_file_runs_a_cluster_the_nodes_and_the_operator_use") {
        return;
    }
    let _engine = engine();
    assert_ports_free();
    let images = images();
    let redis = ClusterRedisImage::build();
    let env = vec![
        ("RATELIMITER_IMAGE".to_owned(), images.node.clone()),
        ("REDIS_IMAGE".to_owned(), redis.0.clone()),
        ("RATELIMITER_ADMIN_TOKEN".to_owned(), ADMIN_TOKEN.to_owned()),
        (
            "RATELIMITER_IDENTIFIER_SECRET".to_owned(),
            "compose-test-identifier-secret".to_owned(),
        ),
    ];
    let project = Project::with_file(
        &format!("opcluster{}", std::process::id()),
        repo_root().join("docker-compose.ratelimit-cluster.yml"),
        env,
    );
    project.ok(&["up", "-d", "--no-build"]);
    wait_nodes_healthy(&project, Duration::from_secs(120));

    // Every node is in cluster mode and sees three healthy shards covering every slot.
    for port in NODES {
        let info = node_json(port, "/v1/node");
        assert_eq!(info["redis_mode"], "cluster", "{info}");
        let shards = info["shards"].as_array().expect("shards");
        assert_eq!(shards.len(), 3, "{info}");
        assert!(shards.iter().all(|s| s["ok"] == true), "{info}");
    }

    // Exact across the three nodes: a policy of 6 per minute, 12 checks round-robin.
    let auth = format!("Bearer {ADMIN_TOKEN}");
    let policy = r#"{"match": "cc:*", "windows": [{"limit": 6, "window_ms": 60000}]}"#;
    let (status, body) = request_with(
        NODES[0],
        "PUT",
        "/v1/policies/cc",
        Some(policy),
        &[("Authorization", &auth)],
    )
    .expect("put policy");
    assert!(status == 200 || status == 201, "{status} {body}");
    std::thread::sleep(Duration::from_millis(1500)); // the other nodes' policy reload bound
    let mut allowed = 0;
    for i in 0..12 {
        let port = NODES[i % 3];
        let (status, body) =
            request_with(port, "POST", "/v1/check", Some(r#"{"key": "cc:one"}"#), &[])
                .expect("check");
        let v: Value = serde_json::from_str(&body).expect("check JSON");
        assert!(v["degraded"].is_null(), "decided through Redis: {body}");
        match status {
            200 => allowed += 1,
            429 => {}
            other => panic!("check answered {other}: {body}"),
        }
    }
    assert_eq!(allowed, 6, "exactly the limit across three nodes");

    // The operator on the host reaches every member by its announced address.
    let urls = MEMBERS.map(|p| format!("redis://127.0.0.1:{p}")).join(",");
    let nodes = NODES.map(|p| format!("http://127.0.0.1:{p}")).join(",");
    let (code, doc) = operator_monitor_once(&urls, &nodes);
    assert_eq!(code, 0, "healthy cluster: {doc}");

    // Kill the primary of the hot key's shard: the operator names the dead instance.
    let primary = cluster_primary_of(&project, "cc:one");
    let service = format!("redis-{}", primary - 7000 + 1);
    let id = project.container(&service);
    assert!(
        run(Command::new("docker").args(["kill", &id]))
            .status
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let dead = format!("127.0.0.1:{primary}");
    loop {
        let (code, doc) = operator_monitor_once(&urls, &nodes);
        let text = doc.to_string();
        // A one-shot monitor has no earlier topology to compare with (`failover_detected` is
        // the continuous monitor's): it names the dead primary, and once its replica took
        // over, every slot is served again (no `cluster_ok`) by a primary without a replica.
        let violations = doc["violations"].as_array().cloned().unwrap_or_default();
        let named = |inv: &str| violations.iter().any(|v| v["invariant"] == inv);
        if code == 1
            && text.contains(&dead)
            && named("redis_healthy")
            && named("replica_live")
            && !named("cluster_ok")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the monitor did not name {dead} and the promoted replica: {doc}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    project.down();
    assert_eq!(
        project.leftovers(),
        Vec::<String>::new(),
        "down leaves nothing"
    );
}

/// The port of the primary serving `key`'s slot, asked of a member inside the project.
fn cluster_primary_of(project: &Project, key: &str) -> u16 {
    let slot_key = format!("ratelimit:c:{{{key}}}:x");
    let out = project.ok(&[
        "exec",
        "-T",
        "redis-1",
        "redis-cli",
        "-p",
        "7000",
        "cluster",
        "keyslot",
        &slot_key,
    ]);
    let slot: u16 = out.trim().parse().expect("keyslot");
    let nodes = project.ok(&[
        "exec",
        "-T",
        "redis-1",
        "redis-cli",
        "-p",
        "7000",
        "cluster",
        "nodes",
    ]);
    for line in nodes.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 9 || !f[2].contains("master") {
            continue;
        }
        let port: u16 = f[1]
            .split('@')
            .next()
            .and_then(|a| a.rsplit(':').next())
            .and_then(|p| p.parse().ok())
            .expect("member address");
        for range in &f[8..] {
            let (a, b) = range.split_once('-').unwrap_or((range, range));
            if let (Ok(a), Ok(b)) = (a.parse::<u16>(), b.parse::<u16>())
                && (a..=b).contains(&slot)
            {
                return port;
            }
        }
    }
    panic!("no primary serves slot {slot}: {nodes}");
}
