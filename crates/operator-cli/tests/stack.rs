//! `operator stack`, `operator chaos` and `operator load` through the binary, on real processes
//! on free ports: what `up` starts survives the command, `down` leaves no process and no port,
//! a taken port is named, faults report and undo, load reports every second.

mod stack_support;

use std::process::Command;

use stack_support::{StackDir, alive, json_lines, listening, operator, stderr, stdout};

#[test]
fn stack_up_status_down_leaves_nothing_behind() {
    let s = StackDir::new();
    let mut args = vec!["--json", "stack", "up"];
    let flags = s.flags();
    args.extend(flags.iter().map(String::as_str));
    let out = operator(&args);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let doc = &json_lines(&out)[0];
    let components = doc["components"].as_array().unwrap();
    assert_eq!(components.len(), 4, "{doc:#}");
    assert!(components.iter().all(|c| c["ready"] == true), "{doc:#}");
    assert_eq!(components[0]["component"], "redis");

    // `up` has exited; what it started runs on, recorded in the state directory.
    let pids = s.pids();
    assert_eq!(pids.len(), 4);
    assert!(pids.iter().all(|p| alive(*p)));
    let dir = s.path();
    let out = operator(&["stack", "status", "--state-dir", &dir]);
    assert!(out.status.success(), "{}", stdout(&out));
    let text = stdout(&out);
    for name in ["redis", "node-1", "node-2", "node-3"] {
        assert!(text.contains(name), "{text}");
    }
    assert_eq!(text.matches(" ready ").count(), 4, "{text}");

    let out = operator(&["stack", "down", "--state-dir", &dir]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("stopped (SIGTERM)"),
        "{}",
        stdout(&out)
    );
    for pid in &pids {
        assert!(!alive(*pid), "pid {pid} survived stack down");
    }
    for port in s.ports() {
        assert!(!listening(port), "port {port} still listening");
    }
    let out = operator(&["stack", "status", "--state-dir", &dir]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("no stack"), "{}", stdout(&out));
    let out = operator(&["stack", "down", "--state-dir", &dir]);
    assert!(out.status.success() && stdout(&out).contains("nothing to stop"));
}

#[test]
fn a_taken_port_is_named_before_anything_starts() {
    let s = StackDir::new();
    let taken = std::net::TcpListener::bind(("127.0.0.1", s.node_ports[1])).unwrap();
    let mut args = vec!["stack", "up"];
    let flags = s.flags();
    args.extend(flags.iter().map(String::as_str));
    let out = operator(&args);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("port {}", s.node_ports[1])) && err.contains("node-2"),
        "{err}"
    );
    // It names the flag and a port free now, keeping the other nodes' ports.
    let list = err
        .split_once("pass --node-ports ")
        .and_then(|(_, rest)| rest.split_once(" (free)"))
        .map(|(list, _)| {
            list.split(',')
                .map(|p| p.parse::<u16>().unwrap())
                .collect::<Vec<_>>()
        })
        .unwrap_or_else(|| panic!("no free alternative named: {err}"));
    assert_eq!(
        (list[0], list[2]),
        (s.node_ports[0], s.node_ports[2]),
        "{err}"
    );
    assert!(
        list[1] != s.node_ports[1] && !s.ports().contains(&list[1]),
        "{err}"
    );
    assert!(
        std::net::TcpListener::bind(("127.0.0.1", list[1])).is_ok(),
        "{err}"
    );
    assert!(!listening(s.redis_port), "Redis started anyway");
    assert!(s.pids().is_empty());
    drop(taken);

    let taken = std::net::TcpListener::bind(("127.0.0.1", s.redis_port)).unwrap();
    let out = operator(&args);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let free: u16 = err
        .split_once("pass --redis-port ")
        .and_then(|(_, rest)| rest.split_once(" (free)"))
        .and_then(|(p, _)| p.parse().ok())
        .unwrap_or_else(|| panic!("no free alternative named: {err}"));
    assert!(free != s.redis_port && !s.ports().contains(&free), "{err}");
    drop(taken);
}

/// The admin token and identifier secret reach the nodes through their environment: the
/// world-readable `/proc/<pid>/cmdline` never holds them, and nothing printed does either.
#[test]
fn the_nodes_get_their_secrets_through_the_environment_not_argv() {
    const TOKEN: &str = "tok-hcore-test-0123456789abcdef";
    const SECRET: &str = "idsecret-hcore-test-fedcba9876543210";
    let s = StackDir::new();
    let out = Command::new(env!("CARGO_BIN_EXE_operator"))
        .args(["--json", "stack", "up"])
        .args(s.flags())
        .env("OPERATOR_LOG", "error")
        .env("RATELIMITER_ADMIN_TOKEN", TOKEN)
        .env("RATELIMITER_IDENTIFIER_SECRET", SECRET)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let printed = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        !printed.contains(TOKEN) && !printed.contains(SECRET),
        "{printed}"
    );
    let pids = s.pids();
    assert_eq!(pids.len(), 4);
    for pid in &pids[1..] {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
        let cmdline = String::from_utf8_lossy(&cmdline);
        assert!(cmdline.contains("ratelimiter-node"), "{cmdline}");
        assert!(
            !cmdline.contains(TOKEN) && !cmdline.contains(SECRET),
            "{cmdline}"
        );
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
        let environ: Vec<&[u8]> = environ.split(|b| *b == 0).collect();
        assert!(environ.contains(&format!("RATELIMITER_ADMIN_TOKEN={TOKEN}").as_bytes()));
        assert!(environ.contains(&format!("RATELIMITER_IDENTIFIER_SECRET={SECRET}").as_bytes()));
    }
    // The state file holds them for restarts: readable by its owner only.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(s.dir.path().join("stack.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let out = operator(&["--json", "stack", "status", "--state-dir", &s.path()]);
    assert!(!stdout(&out).contains(TOKEN), "{}", stdout(&out));
}

#[test]
fn chaos_reports_verifies_and_undoes_through_the_binary() {
    let s = StackDir::new();
    s.up();
    let dir = s.path();
    let chaos = |words: &[&str]| {
        let mut args = vec!["chaos", "--state-dir", &dir, "--subject", "ratelimit"];
        args.extend(words);
        operator(&args)
    };

    let out = operator(&["chaos", "list"]);
    assert!(out.status.success());
    for f in [
        "kill-redis",
        "restart-redis",
        "pause-redis DURATION",
        "kill-node N",
        "restart-node N",
        "stuck-keys N",
        "drop-policies",
        "script-flush",
        "partition-node N DURATION",
        "partition-redis DURATION",
    ] {
        assert!(stdout(&out).contains(f), "{f} missing: {}", stdout(&out));
    }

    let out = chaos(&["kill-node", "2"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("killed node-2 with SIGKILL"), "{text}");
    assert!(text.contains("undo kill-node 2"), "{text}");
    assert!(!listening(s.node_ports[1]));
    let status = operator(&["stack", "status", "--state-dir", &dir]);
    assert_eq!(status.status.code(), Some(1), "node-2 is down");
    assert!(stdout(&status).contains("not running"));

    let out = chaos(&["undo", "kill-node", "2"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(!stdout(&out).contains("FAIL"), "{}", stdout(&out));
    assert!(
        operator(&["stack", "status", "--state-dir", &dir])
            .status
            .success()
    );

    let out = operator(&["--json", "chaos", "--state-dir", &dir, "pause-redis", "1s"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let report = &json_lines(&out)[0];
    assert_eq!(report["fault"], "pause-redis 1s");
    assert!(
        report["elapsed_ms"].as_u64().unwrap() >= 1_000,
        "{report:#}"
    );
    assert!(
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["ok"] == true),
        "{report:#}"
    );

    assert!(chaos(&["stuck-keys", "3"]).status.success());
    let out = chaos(&["undo", "stuck-keys"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("deleted 3 keys"), "{}", stdout(&out));

    let bad = chaos(&["flood-redis"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("unknown fault"), "{}", stderr(&bad));
    let bad = chaos(&["kill-node", "7"]);
    assert_ne!(bad.status.code(), Some(0), "{}", stdout(&bad));
    // Local processes share the host's network: nothing to partition.
    let bad = chaos(&["partition-node", "1", "1s"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stdout(&bad));
    assert!(
        stderr(&bad).contains("not supported by the local environment")
            && stderr(&bad).contains("--env compose"),
        "{}",
        stderr(&bad)
    );
    assert!(
        operator(&["stack", "status", "--state-dir", &dir])
            .status
            .success(),
        "the refused partition changed nothing"
    );
}

#[test]
fn compose_flags_are_checked_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docker-compose.ratelimit.yml")
        .display()
        .to_string();
    let usage = |args: &[&str], flag: &str| {
        let out = operator(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(flag), "{args:?}: {}", stderr(&out));
    };
    // Compose flags without --env compose.
    usage(
        &["stack", "up", "--state-dir", &d, "--core-only"],
        "--core-only",
    );
    usage(
        &["stack", "up", "--state-dir", &d, "--lb-port", "9"],
        "--lb-port",
    );
    usage(
        &["demo", "ratelimit", "--state-dir", &d, "--project", "x"],
        "--project",
    );
    // What the compose file cannot take, or a file that is not there.
    let compose = |extra: &[&str]| {
        let mut a = vec!["stack", "up", "--env", "compose", "--state-dir", &d];
        a.extend(extra);
        a.iter().map(|s| (*s).to_owned()).collect::<Vec<String>>()
    };
    let run = |extra: &[&str], flag: &str| {
        let args = compose(extra);
        usage(&args.iter().map(String::as_str).collect::<Vec<_>>(), flag);
    };
    run(&["--compose-file", "/nonexistent.yml"], "--compose-file");
    run(
        &["--compose-file", &file, "--policies", &file],
        "--policies",
    );
    run(
        &["--compose-file", &file, "--node-ports", "1,2"],
        "3 node ports",
    );
    run(
        &["--compose-file", &file, "--project", "Not Valid"],
        "--project",
    );
    run(
        &["--compose-file", &file, "--lb-port", "8001"],
        "port 8001 is given twice",
    );
    usage(&["stack", "up", "--env", "swarm"], "--env");
    // Nothing was recorded; status and down say where to look.
    let out = operator(&["stack", "status", "--env", "compose", "--state-dir", &d]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("no compose stack"),
        "{}",
        stdout(&out)
    );
    let out = operator(&["stack", "down", "--env", "compose", "--state-dir", &d]);
    assert!(out.status.success() && stdout(&out).contains("nothing to stop"));
    let out = operator(&["chaos", "--env", "compose", "--state-dir", &d, "kill-redis"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no compose stack"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.path().join("compose.json").exists());
}

#[test]
fn load_reports_allowed_denied_and_errors_every_second() {
    let s = StackDir::new();
    s.up();
    let dir = s.path();
    let out = operator(&[
        "--json",
        "load",
        "--state-dir",
        &dir,
        "--rate",
        "300",
        "--duration",
        "3s",
    ]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let lines = json_lines(&out);
    let seconds: Vec<_> = lines.iter().filter(|l| l["type"] == "second").collect();
    assert!(seconds.len() >= 2, "{lines:#?}");
    for s in &seconds {
        assert!(
            s["allowed"].as_u64().unwrap() + s["denied"].as_u64().unwrap() > 0,
            "{s}"
        );
        assert_eq!(s["errors"], 0, "{s}");
    }
    let total = lines.last().unwrap();
    assert_eq!(total["type"], "summary");
    // Half the requests on one hot key limited to 100/s: some are denied.
    assert!(total["denied"].as_u64().unwrap() > 0, "{total}");

    let out = operator(&[
        "load",
        "--state-dir",
        &dir,
        "--rate",
        "50",
        "--duration",
        "1s",
        "--keys",
        "hot",
    ]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(
        text.contains("allowed") && text.contains("total:"),
        "{text}"
    );
}
