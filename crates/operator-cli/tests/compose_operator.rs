//! The operator running `docker-compose.ratelimit.yml` itself, on this machine's Docker engine
//! (which cannot pull images: the image variables point at images built here `FROM scratch` out
//! of local binaries, once for this test binary):
//!
//! - `operator stack up --env compose --core-only`, `stack status`, chaos on the containers
//!   (kill, pause, restart empty, kill a node, partition a node), each seen by a running
//!   `operator monitor` and undone, then `stack down`;
//! - `operator demo ratelimit --env compose --core-only`: every chapter observed.
//!
//! Each leaves no container, network or volume with its project's label. Without a Docker engine
//! the tests say so loudly and do not run, unless `OPERATOR_REQUIRE_DOCKER` is set (the README's
//! test command sets it when Docker is present), in which case they fail.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::compose::{
    ADMIN_TOKEN, CORE_SERVICES, Project, compose_file, docker_or_say_so, engine, images,
    operator_with,
};
use support::{DEADLINE, Monitor};
use test_support::free_ports;

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
    let project = Project::new(&name, images.env_with_subnet("172.28.1"));
    let file = compose_file().display().to_string();
    let (r, ns, l) = (
        redis_port.to_string(),
        format!("{n1},{n2},{n3}"),
        lb.to_string(),
    );
    let out = operator_with(
        &images.env_with_subnet("172.28.1"),
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
    let mut m = Monitor::start_on(
        &format!("redis://127.0.0.1:{redis_port}"),
        &nodes,
        &["--node-token", ADMIN_TOKEN],
    );
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
    let project = Project::new(&name, images.env_with_subnet("172.28.2"));
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
        .envs(images.env_with_subnet("172.28.2"))
        .env("OPERATOR_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let lines = test_support::process::run_json_lines(
        "operator demo --env compose",
        &mut cmd,
        Duration::from_secs(180),
    );

    let up = lines.of_type("stack_up");
    assert_eq!(up["environment"], "compose");
    assert!(
        up["components"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["container"].is_string())
    );
    let summary = lines.of_type("summary");
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
        .all_of_type("fault")
        .find(|l| l["report"]["fault"] == "restart-redis")
        .unwrap_or_else(|| panic!("no restart-redis fault:\n{}", lines.dump()));
    assert!(
        restart["report"]["did"][0]
            .as_str()
            .unwrap()
            .contains("removed volume"),
        "{restart:#}"
    );
    let teardown = lines.of_type("teardown");
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
