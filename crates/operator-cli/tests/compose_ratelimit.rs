//! `docker-compose.ratelimit.yml` on this machine's Docker engine, which cannot pull images, run
//! as a user runs it (`compose up`): the same compose file with its image variables pointing at
//! images built here `FROM scratch` out of the binaries built or installed on this machine. The
//! stack must become healthy, serve exact shared limits through the load balancer, and the
//! operator (on the host, as a user runs it) must see the Redis container killed and restarted.
//! Nothing is left behind. The file is also validated by `compose config`.
//!
//! The operator running the file itself (`--env compose`) is `compose_operator.rs`. Without a
//! Docker engine the tests say so loudly and do not run, unless `OPERATOR_REQUIRE_DOCKER` is set
//! (the README's test command sets it when Docker is present), in which case they fail.

mod support;

use std::process::Command;
use std::time::Duration;

use support::compose::{
    ADMIN_TOKEN, CORE_SERVICES, Project, docker_or_say_so, engine, images, repo_root,
};
use support::{DEADLINE, Monitor};
use test_support::docker::{compose_command, run};
use test_support::free_ports;
use test_support::http::{request as http, request_with};

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
    if !docker_or_say_so("the_compose_stack_runs_on_local_images") {
        return;
    }
    let images = images();
    let _engine = engine();
    let [redis_port, n1, n2, n3, lb] = <[u16; 5]>::try_from(free_ports(5)).expect("five ports");
    let mut env = images.env();
    env.extend([
        ("REDIS_PORT".into(), redis_port.to_string()),
        ("NODE1_PORT".into(), n1.to_string()),
        ("NODE2_PORT".into(), n2.to_string()),
        ("NODE3_PORT".into(), n3.to_string()),
        ("LB_PORT".into(), lb.to_string()),
    ]);
    let project = Project::new(&format!("opstest{}", std::process::id()), env);
    let mut up = vec!["up", "-d", "--no-build"];
    up.extend(CORE_SERVICES);
    project.ok(&up);
    project.wait_healthy(Duration::from_secs(120));

    // Exact shared limits through the load balancer.
    let policy = r#"{"match":"compose:*","windows":[{"limit":20,"window_ms":3600000}]}"#;
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let auth = [("Authorization", bearer.as_str())];
    let (status, _) = http(lb, "PUT", "/v1/policies/compose", Some(policy)).unwrap();
    assert_eq!(status, 401, "management needs the compose stack's token");
    let (status, body) =
        request_with(lb, "PUT", "/v1/policies/compose", Some(policy), &auth).unwrap();
    assert!((200..300).contains(&status), "{status} {body}");
    // Every node picks the change up within its policy poll (documented: within a second).
    let version = |port: u16| -> u64 {
        let (_, body) = request_with(port, "GET", "/v1/node", None, &auth).unwrap();
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
    let mut m = Monitor::start_on(
        &format!("redis://127.0.0.1:{redis_port}"),
        &nodes_flag,
        &["--node-token", ADMIN_TOKEN],
    );
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
    if !docker_or_say_so("the_compose_file_is_valid") {
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
    let secrets = [
        ("RATELIMITER_ADMIN_TOKEN", ADMIN_TOKEN),
        (
            "RATELIMITER_IDENTIFIER_SECRET",
            "compose-test-identifier-secret",
        ),
    ];
    // Without the token and the secret, compose refuses the file and names what is missing.
    let bare = run(Command::new(&program)
        .args(&lead)
        .arg("-f")
        .arg(repo_root().join("docker-compose.ratelimit.yml"))
        .args(["config"])
        .current_dir(repo_root())
        .env_remove("RATELIMITER_ADMIN_TOKEN")
        .env_remove("RATELIMITER_IDENTIFIER_SECRET"));
    assert!(
        !bare.status.success()
            && String::from_utf8_lossy(&bare.stderr).contains("RATELIMITER_ADMIN_TOKEN"),
        "compose config without the secrets must fail naming them: {}",
        String::from_utf8_lossy(&bare.stderr)
    );
    let public = config(&secrets);
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
        secrets[0],
        secrets[1],
        ("REDIS_IMAGE", "local/redis:x"),
        ("RATELIMITER_IMAGE", "local/node:x"),
    ]);
    assert!(local.contains("local/redis:x") && local.contains("local/node:x"));
}
