//! `operator demo ratelimit --json` end to end, on free ports: exit 0, every chapter observed
//! with its measured detection and recovery, and nothing left running afterwards. As on a stock
//! machine, its Redis port already has a Redis on it and its first node port a listener: it
//! moves both to free ports, says so (one line each), and leaves the squatters alone.

mod stack_support;

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::Duration;

use stack_support::{StackDir, alive, listening};

#[test]
fn the_demo_observes_every_chapter_and_tears_down() {
    let s = StackDir::new();
    let db = s.dir.path().join("demo-tickets.db");
    // What a stock machine has: a packaged Redis on the demo's Redis port, something on its
    // first node port.
    let squatter = test_support::RedisServer::builder()
        .port(s.redis_port)
        .start();
    let listener = TcpListener::bind(("127.0.0.1", s.node_ports[0])).unwrap();
    let err_path = s.dir.path().join("demo.stderr");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_operator"));
    cmd.arg("--json")
        .arg("--db")
        .arg(&db)
        .args(["demo", "ratelimit"])
        .args(s.flags())
        .env("OPERATOR_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&err_path).unwrap());
    let lines =
        test_support::process::run_json_lines("operator demo", &mut cmd, Duration::from_secs(240));
    let err = std::fs::read_to_string(&err_path).unwrap();
    let moved: Vec<(u16, String, u16)> = err
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("operator: port ")?;
            let (from, rest) = rest.split_once(" (")?;
            let (component, rest) = rest.split_once(") is taken: using ")?;
            let to = rest.strip_suffix(" instead")?;
            Some((from.parse().ok()?, component.to_owned(), to.parse().ok()?))
        })
        .collect();
    assert_eq!(moved.len(), 2, "one line per moved port: {err}");
    assert_eq!(
        (moved[0].0, moved[0].1.as_str()),
        (s.redis_port, "redis"),
        "{err}"
    );
    assert_eq!(
        (moved[1].0, moved[1].1.as_str()),
        (s.node_ports[0], "node-1"),
        "{err}"
    );
    let summary = lines.of_type("summary");
    assert_eq!(summary["ok"], true, "{summary:#}");
    let chapters = summary["chapters"].as_array().unwrap();
    // Five chapters, and seed 003's naive mode on a local stack.
    assert_eq!(chapters.len(), 6);
    let detected = |i: usize| {
        chapters[i]["detected"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    for (i, c) in chapters.iter().enumerate() {
        assert_eq!(c["ok"], true, "chapter {}: {c:#}", i + 1);
        assert_eq!(c["chapter"], i + 1);
        if i > 0 {
            assert!(c["detected_after_ms"].as_u64().is_some(), "{c:#}");
            assert!(c["recovered_after_ms"].as_u64().is_some(), "{c:#}");
        }
    }
    assert!(chapters[0]["opened"].as_array().unwrap().is_empty());
    assert_eq!(detected(1), "redis_healthy");
    assert_eq!(detected(2), "config_loaded");
    assert_eq!(detected(3), "no_stuck_keys");
    assert_eq!(
        detected(4),
        format!("node_down[127.0.0.1:{}]", s.node_ports[1])
    );
    // On node 1, which the demo moved off its squatted port.
    assert!(
        detected(5).starts_with("over_admission[127.0.0.1:"),
        "{}",
        detected(5)
    );
    // Every chapter narrated its start and end, and the faults said what they did.
    let starts = lines.all_of_type("chapter_start").count();
    assert_eq!(starts, 6);
    assert!(
        lines
            .all_of_type("fault")
            .any(|l| l["report"]["fault"] == "kill-redis")
    );
    assert!(
        lines
            .all_of_type("action")
            .any(|l| l["report"]["action"] == "repair_stuck_keys")
    );

    let teardown = lines.of_type("teardown");
    assert!(
        teardown["report"]["ports_still_open"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let up = lines.of_type("stack_up");
    for c in up["components"].as_array().unwrap() {
        let pid = u32::try_from(c["pid"].as_u64().unwrap()).unwrap();
        assert!(
            !alive(pid),
            "{} (pid {pid}) survived the demo",
            c["component"]
        );
    }
    for port in [moved[0].2, moved[1].2]
        .into_iter()
        .chain(s.node_ports[1..].iter().copied())
    {
        assert!(!listening(port), "port {port} still listening");
    }
    // The squatters were left alone: the demo never wrote to the Redis it found.
    assert_eq!(squatter.cmd(&["DBSIZE"]), ":0");
    drop(listener);
}
