//! `docker-compose.ratelimit.yml` on this machine's Docker engine, which cannot pull images: the
//! same compose file runs with its image variables pointing at images built here `FROM scratch`
//! out of the binaries built or installed on this machine (built once for this test binary).
//!
//! - Run as a user runs it (`compose up`): the stack becomes healthy, serves exact shared limits
//!   through the load balancer, and the operator on the host sees the Redis container killed and
//!   started again.
//! - Run by the operator (`operator stack up --env compose`): status, and chaos on the
//!   containers (kill, pause, restart empty, kill a node, partition a node), each seen by the
//!   monitor and undone.
//! - `operator demo ratelimit --env compose`: every chapter observed.
//!
//! Nothing is left behind: no container, network or volume with the project's label. Without a
//! Docker engine the tests say so loudly and do not run, unless `OPERATOR_REQUIRE_DOCKER` is set
//! (the README's test command sets it when Docker is present), in which case they fail.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::compose::{
    CORE_SERVICES, Project, compose_file, docker_or_say_so, engine, images, operator_with,
    repo_root,
};
use support::{DEADLINE, Monitor};
use test_support::docker::{compose_command, run};
use test_support::stack::http;
use test_support::{ChildGuard, free_ports};

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

/// `operator --json chaos --env compose --state-dir DIR <words>`, which must succeed with every
/// check holding; returns the report.
fn chaos(dir: &str, words: &[&str]) -> Value {
    let mut args = vec!["--json", "chaos", "--env", "compose", "--state-dir", dir];
    args.extend(words);
    // No image variable here: the record of `stack up` provides them.
    let out = operator_with(&[], &args);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "chaos {words:?} exited {}:\n{text}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert!(
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["ok"] == true),
        "{report:#}"
    );
    report
}

fn did(report: &Value) -> String {
    report["did"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect::<Vec<_>>()
        .join("; ")
}

#[test]
fn operator_stack_up_chaos_and_down_act_on_the_containers() {
    if !docker_or_say_so("operator_stack_up_chaos_and_down_act_on_the_containers") {
        return;
    }
    let images = images();
    let _engine = engine();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let [redis_port, n1, n2, n3, lb] = <[u16; 5]>::try_from(free_ports(5)).expect("five ports");
    let name = format!("opsstack{}", std::process::id());
    // Whatever happens, the project goes (declared after the images: dropped before them).
    let project = Project::new(&name, images.env());
    let file = compose_file().display().to_string();
    let (r, ns, l) = (
        redis_port.to_string(),
        format!("{n1},{n2},{n3}"),
        lb.to_string(),
    );
    let out = operator_with(
        &images.env(),
        &[
            "--json",
            "stack",
            "up",
            "--env",
            "compose",
            "--core-only",
            "--compose-file",
            &file,
            "--project",
            &name,
            "--state-dir",
            &d,
            "--redis-port",
            &r,
            "--node-ports",
            &ns,
            "--lb-port",
            &l,
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "stack up --env compose: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["environment"], "compose");
    assert_eq!(doc["compose"]["project"], name.as_str());
    assert_eq!(doc["compose"]["services"], serde_json::json!(CORE_SERVICES));
    assert_eq!(
        doc["compose"]["variables"]["REDIS_IMAGE"],
        images.redis.as_str()
    );
    let components = doc["components"].as_array().unwrap();
    assert_eq!(components.len(), 4, "{doc:#}");
    assert!(
        components
            .iter()
            .all(|c| c["ready"] == true && c["container"].is_string()),
        "{doc:#}"
    );

    // Later commands find the stack through the record alone.
    let out = operator_with(
        &[],
        &["stack", "status", "--env", "compose", "--state-dir", &d],
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}");
    assert_eq!(text.matches(" ready ").count(), 4, "{text}");
    assert!(text.contains(&format!("project {name}")), "{text}");
    let out = operator_with(&[], &["stack", "status", "--state-dir", &d]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("add --env compose"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let nodes = [n1, n2, n3]
        .map(|p| format!("http://127.0.0.1:{p}"))
        .join(",");
    let mut m = Monitor::start_on(&format!("redis://127.0.0.1:{redis_port}"), &nodes, &[]);
    m.collect_for(Duration::from_secs(2));

    // Killed: `docker kill` is a manual stop, the restart policy leaves it down.
    m.seen.clear();
    let r = chaos(&d, &["kill-redis"]);
    assert!(did(&r).contains("container"), "{r:#}");
    m.wait("opened", "redis_healthy", None, DEADLINE);
    let out = operator_with(
        &[],
        &[
            "--json",
            "stack",
            "status",
            "--env",
            "compose",
            "--state-dir",
            &d,
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["components"][0]["running"], false, "{status:#}");
    let r = chaos(&d, &["undo", "kill-redis"]);
    assert!(did(&r).contains("append-only file"), "{r:#}");
    m.wait("resolved", "redis_healthy", None, DEADLINE);

    // Frozen with `docker pause`, resumed when the duration ends.
    let r = chaos(&d, &["pause-redis", "2s"]);
    assert!(
        did(&r).contains("froze") && did(&r).contains("resumed"),
        "{r:#}"
    );

    // A node killed, then started again.
    m.seen.clear();
    let e2 = format!("127.0.0.1:{n2}");
    chaos(&d, &["kill-node", "2"]);
    m.wait("opened", "node_down", Some(&e2), DEADLINE);
    chaos(&d, &["undo", "kill-node", "2"]);
    m.wait("resolved", "node_down", Some(&e2), DEADLINE);

    // A node partitioned off the network for 3 s: the host loses it too; back by itself.
    m.seen.clear();
    let e3 = format!("127.0.0.1:{n3}");
    let r = chaos(&d, &["partition-node", "3", "3s"]);
    assert!(
        did(&r).contains("disconnected") && did(&r).contains("reconnected"),
        "{r:#}"
    );
    m.wait("opened", "node_down", Some(&e3), DEADLINE);
    m.wait("resolved", "node_down", Some(&e3), DEADLINE);

    // Restarted empty: the container and its volume are gone, Redis comes back without data.
    let r = chaos(&d, &["restart-redis"]);
    assert!(did(&r).contains("removed volume"), "{r:#}");

    let out = operator_with(
        &[],
        &[
            "--json",
            "stack",
            "down",
            "--env",
            "compose",
            "--state-dir",
            &d,
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}");
    let down: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(down["left_behind"], serde_json::json!([]), "{down:#}");
    assert_eq!(down["ports_still_open"], serde_json::json!([]), "{down:#}");
    assert_eq!(
        project.leftovers(),
        Vec::<String>::new(),
        "stack down leaves nothing behind"
    );
    assert!(
        !dir.path().join("compose.json").exists(),
        "the record is removed"
    );
}

#[test]
fn the_demo_runs_on_compose_and_leaves_nothing() {
    if !docker_or_say_so("the_demo_runs_on_compose_and_leaves_nothing") {
        return;
    }
    let images = images();
    let _engine = engine();
    let dir = tempfile::tempdir().unwrap();
    let [redis_port, n1, n2, n3, lb] = <[u16; 5]>::try_from(free_ports(5)).expect("five ports");
    let name = format!("opsdemo{}", std::process::id());
    let project = Project::new(&name, images.env());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_operator"));
    cmd.arg("--json")
        .arg("--db")
        .arg(dir.path().join("tickets.db"))
        .args([
            "demo",
            "ratelimit",
            "--env",
            "compose",
            "--core-only",
            "--compose-file",
        ])
        .arg(compose_file())
        .args(["--project", &name, "--state-dir"])
        .arg(dir.path())
        .args(["--redis-port", &redis_port.to_string()])
        .args(["--node-ports", &format!("{n1},{n2},{n3}")])
        .args(["--lb-port", &lb.to_string()])
        .envs(images.env())
        .env("OPERATOR_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut demo = ChildGuard::spawn("operator demo --env compose", &mut cmd);
    let stdout = demo.take_stdout().unwrap();
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .map(|l| {
                serde_json::from_str::<Value>(&l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))
            })
            .collect::<Vec<Value>>()
    });
    let deadline = Instant::now() + Duration::from_secs(180);
    while demo.is_running() {
        assert!(
            Instant::now() < deadline,
            "the compose demo ran past 3 minutes"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let status = demo.wait().unwrap();
    let lines = reader.join().unwrap();
    let all = || {
        lines
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(status.success(), "demo exited {status}:\n{}", all());

    let up = lines.iter().find(|l| l["type"] == "stack_up").unwrap();
    assert_eq!(up["environment"], "compose");
    assert!(
        up["components"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["container"].is_string())
    );
    let summary = lines.iter().find(|l| l["type"] == "summary").unwrap();
    assert_eq!(summary["ok"], true, "{summary:#}");
    let chapters = summary["chapters"].as_array().unwrap();
    let detected: Vec<&str> = chapters
        .iter()
        .map(|c| c["detected"].as_str().unwrap_or("-"))
        .collect();
    assert_eq!(
        detected,
        [
            "-",
            "redis_healthy",
            "config_loaded",
            "no_stuck_keys",
            &format!("node_down[127.0.0.1:{n2}]")
        ],
        "{summary:#}"
    );
    let restart = lines
        .iter()
        .find(|l| l["type"] == "fault" && l["report"]["fault"] == "restart-redis")
        .unwrap();
    assert!(
        restart["report"]["did"][0]
            .as_str()
            .unwrap()
            .contains("removed volume"),
        "{restart:#}"
    );
    let teardown = lines.iter().find(|l| l["type"] == "teardown").unwrap();
    assert_eq!(
        teardown["report"]["left_behind"],
        serde_json::json!([]),
        "{teardown:#}"
    );
    assert_eq!(
        teardown["report"]["ports_still_open"],
        serde_json::json!([]),
        "{teardown:#}"
    );
    assert_eq!(
        project.leftovers(),
        Vec::<String>::new(),
        "the demo leaves nothing behind"
    );
}
