//! `docker-compose.ratelimit.yml` on this machine's Docker engine, which cannot pull images: the
//! same compose file runs with its image variables pointing at images built here `FROM scratch`
//! out of the binaries built or installed on this machine. The stack must become healthy, serve
//! exact shared limits through the load balancer, and the operator (on the host, as a user runs
//! it) must see the Redis container killed and restarted. Nothing is left behind.
//!
//! Without a Docker engine the test says so loudly and does not run, unless
//! `OPERATOR_REQUIRE_DOCKER` is set (the README's test command sets it when Docker is present),
//! in which case it fails.

mod support;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::{DEADLINE, Monitor};
use test_support::docker::{
    ImageFile, build_scratch_image, compose_command, docker_available, run, which,
};
use test_support::stack::http;
use test_support::{free_ports, workspace_bin};

const SERVICES: [&str; 5] = [
    "redis",
    "ratelimiter-1",
    "ratelimiter-2",
    "ratelimiter-3",
    "lb",
];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("repository root")
        .to_path_buf()
}

/// Whether to run; panics when Docker is required but missing.
fn docker_or_say_so() -> bool {
    if docker_available() {
        return true;
    }
    assert!(
        std::env::var_os("OPERATOR_REQUIRE_DOCKER").is_none(),
        "OPERATOR_REQUIRE_DOCKER is set but no Docker engine answers `docker info`"
    );
    // Written past the test harness's capture, so it shows even when the test passes.
    let _ = std::io::stderr().write_all(
        b"\n\n*** compose_ratelimit: NO DOCKER ENGINE: the docker-compose.ratelimit.yml test DID NOT RUN ***\n\n",
    );
    false
}

/// Local images standing in for the public ones: (node, redis, nginx) tags.
fn build_images() -> [String; 3] {
    let tag = |name: &str| format!("operator-test/{name}:{}", std::process::id());
    let need = |name: &str, pkg: &str| {
        which(name).unwrap_or_else(|| {
            panic!(
                "{name} is not installed: `sudo apt-get install -y {pkg}` (./scripts/test does it)"
            )
        })
    };
    let [node, redis, nginx] = [tag("ratelimiter-node"), tag("redis"), tag("nginx")];
    build_scratch_image(
        &node,
        &[ImageFile::new(
            workspace_bin("ratelimiter-node"),
            "/usr/local/bin/ratelimiter-node",
        )],
        &[],
        &[],
        "ENV PATH=/usr/local/bin:/usr/bin:/bin\nENV RATELIMITER_LISTEN=0.0.0.0:8080\nUSER 10001:10001\n\
         ENTRYPOINT [\"ratelimiter-node\"]",
    );
    build_scratch_image(
        &redis,
        &[
            ImageFile::new(
                need("redis-server", "redis-server"),
                "/usr/local/bin/redis-server",
            ),
            ImageFile::new(need("redis-cli", "redis-tools"), "/usr/local/bin/redis-cli"),
        ],
        &[],
        &["/data"],
        "ENV PATH=/usr/local/bin:/usr/bin:/bin\nCMD [\"redis-server\"]",
    );
    build_scratch_image(
        &nginx,
        &[ImageFile::new(
            need("nginx", "nginx-light"),
            "/usr/sbin/nginx",
        )],
        &[],
        &["/var/log/nginx", "/var/lib/nginx", "/etc/nginx", "/run"],
        "ENV PATH=/usr/sbin:/usr/bin:/bin\nCMD [\"nginx\", \"-g\", \"daemon off;\"]",
    );
    [node, redis, nginx]
}

/// One compose project, torn down (containers, network, volume) on drop.
struct Project {
    name: String,
    program: String,
    lead: Vec<String>,
    env: Vec<(String, String)>,
    images: Vec<String>,
}

impl Project {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.program);
        c.args(&self.lead)
            .args(["-p", &self.name, "-f"])
            .arg(repo_root().join("docker-compose.ratelimit.yml"))
            .args(args)
            .current_dir(repo_root())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        c
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = run(&mut self.cmd(args));
        assert!(
            out.status.success(),
            "compose {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn container(&self, service: &str) -> String {
        self.ok(&["ps", "-q", service]).trim().to_owned()
    }

    fn health(&self, service: &str) -> String {
        let id = self.container(service);
        let out =
            run(Command::new("docker").args(["inspect", "-f", "{{.State.Health.Status}}", &id]));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    fn wait_healthy(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let states: Vec<String> = SERVICES.iter().map(|s| self.health(s)).collect();
            if states.iter().all(|s| s == "healthy") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "not all healthy after {timeout:?}: {SERVICES:?} = {states:?}"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn leftovers(&self) -> Vec<String> {
        let label = format!("label=com.docker.compose.project={}", self.name);
        let mut left = Vec::new();
        for (kind, args) in [
            ("container", vec!["ps", "-a", "-q", "--filter", &label]),
            ("network", vec!["network", "ls", "-q", "--filter", &label]),
            ("volume", vec!["volume", "ls", "-q", "--filter", &label]),
        ] {
            let out = run(Command::new("docker").args(&args));
            left.extend(
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .map(|l| format!("{kind} {l}")),
            );
        }
        left
    }

    fn down(&self) {
        let _ = run(&mut self.cmd(&["down", "-v", "--remove-orphans", "-t", "2"]));
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        self.down();
        for image in &self.images {
            let _ = run(Command::new("docker").args(["rmi", "-f", image]));
        }
    }
}

fn check(lb: u16, key: &str) -> (u16, serde_json::Value) {
    let (status, body) = http(
        lb,
        "POST",
        "/v1/check",
        Some(&format!(r#"{{"key": "{key}"}}"#)),
    )
    .expect("request through the load balancer");
    (
        status,
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{status}: {e}: {body}")),
    )
}

#[test]
fn the_compose_stack_runs_on_local_images_and_the_operator_sees_redis_die_and_return() {
    if !docker_or_say_so() {
        return;
    }
    let [node_image, redis_image, nginx_image] = build_images();
    let (program, lead) = compose_command();
    let [redis_port, n1, n2, n3, lb] = <[u16; 5]>::try_from(free_ports(5)).expect("five ports");
    let project = Project {
        name: format!("opstest{}", std::process::id()),
        program,
        lead,
        env: vec![
            ("RATELIMITER_IMAGE".into(), node_image.clone()),
            ("REDIS_IMAGE".into(), redis_image.clone()),
            ("NGINX_IMAGE".into(), nginx_image.clone()),
            ("REDIS_PORT".into(), redis_port.to_string()),
            ("NODE1_PORT".into(), n1.to_string()),
            ("NODE2_PORT".into(), n2.to_string()),
            ("NODE3_PORT".into(), n3.to_string()),
            ("LB_PORT".into(), lb.to_string()),
        ],
        images: vec![node_image, redis_image, nginx_image],
    };
    let mut up = vec!["up", "-d", "--no-build"];
    up.extend(SERVICES);
    project.ok(&up);
    project.wait_healthy(Duration::from_secs(120));

    // Exact shared limits through the load balancer.
    let policy = r#"{"match":"compose:*","windows":[{"limit":20,"window_ms":3600000}]}"#;
    let (status, body) = http(lb, "PUT", "/v1/policies/compose", Some(policy)).unwrap();
    assert!((200..300).contains(&status), "{status} {body}");
    // Every node picks the change up within its policy poll (documented: within a second).
    let version = |port: u16| -> u64 {
        let (_, body) = http(port, "GET", "/v1/node", None).unwrap();
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["policy_version"]
            .as_u64()
            .unwrap()
    };
    let stored = serde_json::from_str::<serde_json::Value>(&body).unwrap()["version"]
        .as_u64()
        .unwrap();
    let synced = test_support::wait_for(Duration::from_secs(5), || {
        [n1, n2, n3].iter().all(|p| version(*p) >= stored)
    });
    assert!(
        synced,
        "the nodes did not converge on the new policy version"
    );
    let mut allowed = 0;
    let mut nodes = std::collections::BTreeSet::new();
    for _ in 0..30 {
        let (status, v) = check(lb, "compose:exact");
        assert!(status == 200 || status == 429, "{status} {v}");
        allowed += usize::from(status == 200);
        nodes.insert(v["node"].as_str().unwrap().to_owned());
    }
    assert_eq!(allowed, 20, "exactly the limit, across nodes {nodes:?}");
    assert!(
        nodes.len() >= 2,
        "the load balancer spreads requests: {nodes:?}"
    );

    // The operator on the host, with the compose stack's ports.
    let nodes_flag = [n1, n2, n3]
        .map(|p| format!("http://127.0.0.1:{p}"))
        .join(",");
    let mut m = Monitor::start_on(&format!("redis://127.0.0.1:{redis_port}"), &nodes_flag, &[]);
    let redis = project.container("redis");
    assert!(
        run(Command::new("docker").args(["kill", &redis]))
            .status
            .success()
    );
    let v = m.wait("opened", "redis_healthy", None, DEADLINE);
    assert_eq!(v["severity"], "critical");
    assert!(
        run(Command::new("docker").args(["start", &redis]))
            .status
            .success()
    );
    m.wait("resolved", "redis_healthy", None, DEADLINE);
    project.wait_healthy(Duration::from_secs(60));
    // Append-only persistence: the policy written through the load balancer survived the kill.
    let (status, _) = check(lb, "compose:exact");
    assert_eq!(
        status, 429,
        "the counter and its policy came back with Redis"
    );

    project.down();
    assert_eq!(
        project.leftovers(),
        Vec::<String>::new(),
        "compose down leaves nothing behind"
    );
}

#[test]
fn the_compose_file_is_valid_with_defaults_and_with_substituted_images() {
    if !docker_or_say_so() {
        return;
    }
    let (program, lead) = compose_command();
    let config = |env: &[(&str, &str)]| {
        let out = run(Command::new(&program)
            .args(&lead)
            .arg("-f")
            .arg(repo_root().join("docker-compose.ratelimit.yml"))
            .args(["config"])
            .current_dir(repo_root())
            .envs(env.iter().copied()));
        assert!(
            out.status.success(),
            "compose config failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let public = config(&[]);
    for image in [
        "redis:7.2-alpine",
        "nginx:1.27-alpine",
        "prom/prometheus:",
        "grafana/grafana:",
        "debian:bookworm-slim",
    ] {
        assert!(
            public.contains(image),
            "the public default {image} is used:\n{public}"
        );
    }
    assert!(
        public.contains("127.0.0.1:6379") || public.contains("host_ip: 127.0.0.1"),
        "Redis is published on loopback only"
    );
    let local = config(&[
        ("REDIS_IMAGE", "local/redis:x"),
        ("RATELIMITER_IMAGE", "local/node:x"),
    ]);
    assert!(local.contains("local/redis:x") && local.contains("local/node:x"));
}
