//! Notifications and metrics on the real stack: a real `redis-server` and `ratelimiter-node`,
//! the real `operator monitor`, a real Alertmanager (API v2), an in-test webhook receiver and
//! the real `promtool`.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::alertmanager::{Alertmanager, BlackHole, Webhook, promtool_check, sample, scrape};
use support::{DEADLINE, Monitor};
use test_support::{LocalStack, free_port, free_ports};

fn is_redis_healthy(a: &Value) -> bool {
    a["labels"]["alertname"] == "redis_healthy"
}

#[test]
fn alertmanager_and_a_webhook_see_redis_healthy_fire_and_end_and_metrics_pass_promtool() {
    let mut stack = LocalStack::start(1, |_| vec![]);
    let am = Alertmanager::start();
    let mut hook = Webhook::start();
    let metrics_port = free_port();
    let metrics = format!("127.0.0.1:{metrics_port}");
    let (am_url, hook_url) = (am.url(), hook.url());
    let mut m = Monitor::start(
        &stack,
        &[
            "--alertmanager-url",
            &am_url,
            "--webhook-url",
            &hook_url,
            "--metrics-listen",
            &metrics,
        ],
    );
    // Healthy: nothing firing, nothing sent.
    std::thread::sleep(Duration::from_secs(1));
    assert!(am.alerts().is_empty(), "{:#?}", am.alerts());

    stack.redis.kill();
    let opened = m.wait("opened", "redis_healthy", None, DEADLINE);
    let ticket = opened["ticket"].as_i64().unwrap().to_string();
    let alert = am.wait_alert("redis_healthy", DEADLINE, is_redis_healthy);
    assert_eq!(alert["labels"]["subject"], "ratelimit", "{alert:#}");
    assert_eq!(alert["labels"]["severity"], "critical", "{alert:#}");
    assert!(
        alert["labels"].get("entity").is_none(),
        "whole-subject alert: {alert:#}"
    );
    assert_eq!(alert["annotations"]["ticket"], ticket.as_str(), "{alert:#}");
    assert!(
        alert["annotations"]["summary"]
            .as_str()
            .unwrap()
            .contains("unreachable"),
        "{alert:#}"
    );
    assert_eq!(alert["status"]["state"], "active", "{alert:#}");
    let body = hook.wait("opened", "redis_healthy", DEADLINE);
    assert_eq!(body["ticket"].as_i64().unwrap().to_string(), ticket);
    assert_eq!(
        (&body["subject"], &body["severity"]),
        (&Value::from("ratelimit"), &Value::from("critical"))
    );
    let text = body["text"].as_str().unwrap();
    assert!(
        text.starts_with("[CRITICAL] ratelimit redis_healthy OPENED (ticket #"),
        "{text}"
    );

    stack.redis.restart();
    m.wait("resolved", "redis_healthy", None, DEADLINE);
    am.wait_gone("redis_healthy", DEADLINE, is_redis_healthy);
    let body = hook.wait("resolved", "redis_healthy", DEADLINE);
    assert_eq!(body["resolved_by_agent"], false);

    // The operator's own metrics, linted by the real promtool.
    let text = scrape(metrics_port);
    let (ok, lint) = promtool_check(&text);
    assert!(ok, "promtool check metrics failed:\n{lint}\n{text}");
    let ticks = sample(&text, r#"operator_ticks_total{subject="ratelimit"}"#).unwrap();
    let observed = sample(
        &text,
        r#"operator_observation_duration_seconds_count{subject="ratelimit"}"#,
    );
    assert_eq!(observed, Some(ticks), "{text}");
    let sent = sample(
        &text,
        r#"operator_notifications_sent_total{receiver="alertmanager"}"#,
    );
    assert!(
        sent.is_some_and(|n| n >= 2.0),
        "opened and resolved at least: {text}"
    );
    let hooks = sample(
        &text,
        r#"operator_notifications_sent_total{receiver="webhook"}"#,
    );
    assert!(hooks.is_some_and(|n| n >= 2.0), "{text}");
    assert_eq!(
        sample(
            &text,
            r#"operator_open_tickets{subject="ratelimit",invariant="redis_healthy",severity="critical"}"#
        ),
        Some(0.0),
        "resolved: {text}"
    );
    // A path that is not /metrics is a 404 with a JSON body, not a crash.
    let (status, body) = test_support::http::get(metrics_port, "/nope").unwrap();
    assert_eq!(status, 404);
    assert!(serde_json::from_str::<Value>(&body).unwrap()["error"].is_string());
    assert!(m.is_running());
}

/// The monitor ticks as often with an Alertmanager that never answers as without any: the
/// notifications wait in their own queue. Compared on ticks done by two monitors of the same
/// broken subject side by side, read at the same moment.
#[test]
fn an_alertmanager_that_never_answers_slows_nothing() {
    let hole = BlackHole::start();
    let ports = free_ports(3);
    let redis = format!("redis://127.0.0.1:{}", ports[0]);
    let nodes = format!("http://127.0.0.1:{}", ports[1]);
    let (m1, m2) = (free_port(), free_port());
    let hole_url = format!("http://127.0.0.1:{}", hole.port);
    let common = [
        "--interval",
        "100ms",
        "--timeout",
        "1s",
        "--alertmanager-resend",
        "1s",
    ];
    let metrics1 = format!("127.0.0.1:{m1}");
    let metrics2 = format!("127.0.0.1:{m2}");
    let mut args1: Vec<&str> = common.to_vec();
    args1.extend([
        "--metrics-listen",
        &metrics1,
        "--alertmanager-url",
        &hole_url,
    ]);
    let mut args2: Vec<&str> = common.to_vec();
    args2.extend(["--metrics-listen", &metrics2]);
    let mut with = Monitor::start_on(&redis, &nodes, &args1);
    let mut without = Monitor::start_on(&redis, &nodes, &args2);
    // Everything is down: tickets open, and their alerts go to the black hole.
    with.wait("opened", "redis_healthy", None, DEADLINE);
    let deadline = Instant::now() + DEADLINE;
    while hole.accepted.load(std::sync::atomic::Ordering::Relaxed) == 0 {
        assert!(
            Instant::now() < deadline,
            "the monitor never tried the Alertmanager"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(4));
    let ticks = |port| {
        let text = scrape(port);
        sample(&text, r#"operator_ticks_total{subject="ratelimit"}"#).unwrap()
    };
    let (a, b) = (ticks(m1), ticks(m2));
    assert!(b >= 30.0, "the reference monitor ticked {b} times");
    assert!(
        a >= b * 0.8,
        "with a silent Alertmanager: {a} ticks, without: {b}"
    );
    let text = scrape(m1);
    let sent = sample(
        &text,
        r#"operator_notifications_sent_total{receiver="alertmanager"}"#,
    );
    assert_eq!(sent, Some(0.0), "{text}");
    assert!(with.is_running() && without.is_running());
}

/// The agent's verified repair ends the alert (the webhook says the agent resolved it), and
/// its action is counted in the metrics.
#[test]
fn the_agent_resolving_a_ticket_ends_its_alert() {
    let stack = LocalStack::start(1, |_| vec![]);
    let am = Alertmanager::start();
    let mut hook = Webhook::start();
    let metrics_port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_operator"));
    cmd.arg("--db")
        .arg(dir.path().join("t.db"))
        .args(["agent", "--mode", "execute", "--allow", "repair_stuck_keys"])
        .args(["--interval", "300ms", "--alertmanager-url", &am.url()])
        .args(["--metrics-listen", &format!("127.0.0.1:{metrics_port}")])
        .args(["--subject", "ratelimit", "--redis-url", &stack.redis.url()])
        .args(["--nodes", &stack.nodes_flag()])
        // The webhook's URL through the environment, as a secret should be passed.
        .env("OPERATOR_WEBHOOK_URL", hook.url())
        .env("OPERATOR_LOG", "error")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null());
    let _agent = test_support::ChildGuard::spawn("operator agent", &mut cmd);

    assert_eq!(stack.redis.cmd(&["SET", "ratelimit:leftover", "1"]), "+OK");
    let opened = hook.wait("opened", "no_stuck_keys", DEADLINE);
    let resolved = hook.wait("resolved", "no_stuck_keys", DEADLINE);
    assert_eq!(resolved["ticket"], opened["ticket"]);
    assert_eq!(resolved["resolved_by_agent"], true, "{resolved:#}");
    assert!(
        resolved["text"]
            .as_str()
            .unwrap()
            .contains("RESOLVED by the agent")
    );
    am.wait_gone("no_stuck_keys", DEADLINE, |a| {
        a["labels"]["alertname"] == "no_stuck_keys"
    });
    let text = scrape(metrics_port);
    let actions = r#"operator_agent_actions_total{subject="ratelimit",action="repair_stuck_keys",result="ok"}"#;
    assert_eq!(sample(&text, actions), Some(1.0), "{text}");
    let sessions = r#"operator_agent_sessions_total{subject="ratelimit",outcome="resolved"}"#;
    assert_eq!(sample(&text, sessions), Some(1.0), "{text}");
    let (ok, lint) = promtool_check(&text);
    assert!(ok, "{lint}");
    // Not re-sent as firing while the monitor waits to see it clear.
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        !am.alerts()
            .iter()
            .any(|a| a["labels"]["alertname"] == "no_stuck_keys")
    );
}
