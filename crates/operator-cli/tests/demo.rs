//! `operator demo ratelimit --json` end to end, on free ports: exit 0, every chapter observed
//! with its measured detection and recovery, and nothing left running afterwards.

mod stack_support;

use std::process::{Command, Stdio};
use std::time::Duration;

use stack_support::{StackDir, alive, listening};

#[test]
fn the_demo_observes_every_chapter_and_tears_down() {
    let s = StackDir::new();
    let db = s.dir.path().join("demo-tickets.db");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_operator"));
    cmd.arg("--json")
        .arg("--db")
        .arg(&db)
        .args(["demo", "ratelimit"])
        .args(s.flags())
        .env("OPERATOR_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let lines =
        test_support::process::run_json_lines("operator demo", &mut cmd, Duration::from_secs(240));
    let summary = lines.of_type("summary");
    assert_eq!(summary["ok"], true, "{summary:#}");
    let chapters = summary["chapters"].as_array().unwrap();
    assert_eq!(chapters.len(), 5);
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
    // Every chapter narrated its start and end, and the faults said what they did.
    let starts = lines.all_of_type("chapter_start").count();
    assert_eq!(starts, 5);
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
    for port in s.ports() {
        assert!(!listening(port), "port {port} still listening");
    }
}
