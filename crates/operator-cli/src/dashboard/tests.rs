//! The dashboard's view model and screen, on hand-written rate-limiter observations, drawn on
//! ratatui's `TestBackend`: a healthy stack, then Redis down with a ticket open and diagnosed.

use std::time::Duration;

use chrono::{DateTime, Utc};
use operator_core::monitor::Active;
use operator_core::{Severity, TickReport, Ticket, TicketStatus, Violation};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::{Value, json};

use crate::dashboard::entities::entities_of;
use crate::dashboard::model::{Command, Dashboard, Key, Level};
use crate::dashboard::render::draw;

fn t(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
}

fn node(addr: &str, decisions: u64, local: u64, p99_bucket: [u64; 3], up: bool) -> Value {
    if !up {
        return json!({ "url": format!("http://{addr}"), "addr": addr, "reachable": false,
            "error": "connection refused", "ready": null, "ready_reason": null, "info": null,
            "latency": null, "clock_skew_ms": null });
    }
    json!({
        "url": format!("http://{addr}"), "addr": addr, "reachable": true, "error": null,
        "ready": true, "ready_reason": null, "clock_skew_ms": 0,
        "latency": { "bounds": [0.001, 0.005, 0.01], "counts": [p99_bucket[0], p99_bucket[1], p99_bucket[2], p99_bucket[2]] },
        "info": {
            "node_id": format!("node-{}", &addr[addr.len() - 1..]), "version": "0.1.0", "uptime_ms": 1000,
            "decisions": decisions, "allowed": decisions, "denied": 0, "near_limit": 0,
            "failure_decisions": { "open": 0, "closed": 0, "local": local },
            "policy_version": 1, "policy_digest": "d", "policies_loaded": 1, "policies_from_redis": true,
            "redis_rtt_us": 100, "redis_ok": true, "redis_errors": 0, "redis_timeouts": 0,
            "policy_reloads": 1, "up_nodes": 2, "now_ms": 0, "key_prefix": "ratelimit:",
            "failure_mode": "local"
        }
    })
}

fn observation(at: i64, redis_up: bool, nodes: Vec<Value>) -> Value {
    json!({
        "observed_at": t(at), "key_prefix": "ratelimit:",
        "redis": { "url": "redis://:s3cret@127.0.0.1:6379", "reachable": redis_up,
                   "error": if redis_up { Value::Null } else { json!("connection refused") },
                   "ping_us": if redis_up { json!(250) } else { Value::Null } },
        "nodes": nodes,
    })
}

fn report(at: i64, firing: Vec<Active>, pending: Vec<Active>) -> TickReport {
    TickReport {
        subject: "ratelimit".into(),
        observed_at: t(at),
        observation_error: None,
        observation_duration: Duration::from_millis(2),
        firing,
        pending,
        events: Vec::new(),
        pruned: None,
    }
}

fn redis_down(ticket: Option<i64>) -> Active {
    Active {
        violation: Violation::new("redis_healthy", Severity::Critical, "Redis is unreachable"),
        since: t(10),
        ticket,
        observed: true,
    }
}

fn ticket(id: i64, invariant: &str) -> Ticket {
    Ticket {
        id,
        subject: "ratelimit".into(),
        invariant: invariant.into(),
        entity: None,
        severity: Severity::Critical,
        status: TicketStatus::Open,
        held: false,
        message: "Redis is unreachable".into(),
        evidence: json!({}),
        occurrences: 3,
        first_seen: t(10),
        last_seen: t(12),
        resolved_at: None,
        resolution: None,
    }
}

fn screen(d: &Dashboard) -> String {
    let mut terminal = Terminal::new(TestBackend::new(150, 40)).unwrap();
    terminal.draw(|f| draw(f, d)).unwrap();
    let buffer = terminal.backend().buffer();
    let width = usize::from(buffer.area.width);
    buffer
        .content
        .chunks(width)
        .map(|row| {
            row.iter()
                .map(|c| c.symbol())
                .collect::<String>()
                .trim_end()
                .to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn line_with<'a>(screen: &'a str, needle: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{screen}"))
}

fn dashboard() -> Dashboard {
    let names = [
        "redis_healthy",
        "node_down",
        "high_latency",
        "subject_unreachable",
    ];
    Dashboard::new("ratelimit", names.map(str::to_owned).to_vec(), false)
}

#[test]
fn healthy_stack_shows_every_entity_with_its_rates_and_every_invariant_ok() {
    let mut d = dashboard();
    let before = observation(
        0,
        true,
        vec![
            node("127.0.0.1:8001", 1000, 0, [0, 0, 0], true),
            node("127.0.0.1:8002", 500, 0, [0, 0, 0], true),
        ],
    );
    let now = observation(
        2,
        true,
        vec![
            node("127.0.0.1:8001", 1600, 0, [100, 100, 100], true),
            node("127.0.0.1:8002", 700, 0, [0, 99, 100], true),
        ],
    );
    d.observed(
        &report(2, vec![], vec![]),
        Some(entities_of("ratelimit", &now, Some((&before, 2.0)))),
    );
    assert!(d.healthy());
    let s = screen(&d);
    assert!(
        line_with(&s, "operator dashboard: ratelimit").contains("HEALTHY"),
        "{s}"
    );
    let redis = line_with(&s, "redis 127.0.0.1:6379");
    assert!(
        redis.contains("up") && redis.contains("ping 0.2ms"),
        "{redis}"
    );
    assert!(
        !s.contains("s3cret"),
        "the Redis password is never shown:\n{s}"
    );
    // 600 decisions in 2 s; all under 1 ms, so p99 is inside the first bucket.
    let n1 = line_with(&s, "node node-1 (127.0.0.1:8001)");
    assert!(
        n1.contains("ready") && n1.contains(" 300 ") && n1.contains("1.0ms"),
        "{n1}"
    );
    let n2 = line_with(&s, "node node-2 (127.0.0.1:8002)");
    assert!(n2.contains(" 100 ") && n2.contains("5.0ms"), "{n2}");
    for inv in [
        "redis_healthy",
        "node_down",
        "high_latency",
        "subject_unreachable",
    ] {
        let row = line_with(&s, &format!("│{inv}"));
        assert!(row.contains(" ok "), "{row}");
    }
    assert!(line_with(&s, "open tickets (0)").contains("open tickets"));
}

#[test]
fn failing_stack_shows_pending_then_firing_with_the_ticket_and_its_diagnosis() {
    let mut d = dashboard();
    let down = observation(
        10,
        false,
        vec![
            node("127.0.0.1:8001", 1000, 40, [0, 0, 0], true),
            node("127.0.0.1:8002", 0, 0, [0, 0, 0], false),
        ],
    );
    let slow = Active {
        violation: Violation::new("high_latency", Severity::Warning, "p99 is high"),
        since: t(9),
        ticket: None,
        observed: true,
    };
    d.observed(
        &report(10, vec![], vec![redis_down(None), slow.clone()]),
        Some(entities_of("ratelimit", &down, None)),
    );
    let s = screen(&d);
    assert!(line_with(&s, "│redis_healthy").contains("pending"), "{s}");
    assert!(line_with(&s, "│node_down").contains(" ok "), "{s}");
    assert!(line_with(&s, "HEALTHY").contains("observation #1"));

    d.observed(&report(12, vec![redis_down(Some(4))], vec![slow]), None);
    d.set_tickets(vec![ticket(4, "redis_healthy"), ticket(5, "node_down")]);
    assert!(!d.healthy());
    let s = screen(&d);
    assert!(
        line_with(&s, "operator dashboard").contains("1 FIRING"),
        "{s}"
    );
    let row = line_with(&s, "│redis_healthy");
    assert!(
        row.contains("firing") && row.contains("since 08:00:10Z") && row.contains("critical"),
        "{row}"
    );
    assert!(line_with(&s, "│high_latency").contains("pending"));
    // Entities kept from the last observation that succeeded.
    assert!(line_with(&s, "redis 127.0.0.1:6379").contains("down: connection refused"));
    assert!(line_with(&s, "node 127.0.0.1:8002").contains("down: connection refused"));
    assert!(line_with(&s, "open tickets (2)").contains("open tickets"));
    assert!(
        line_with(&s, "#4").contains("> "),
        "the first ticket is selected:\n{s}"
    );

    assert_eq!(d.key(Key::Down), Command::None);
    assert_eq!(d.key(Key::Down), Command::None, "stays on the last ticket");
    assert_eq!(d.selected_ticket(), Some(5));
    assert_eq!(d.key(Key::Up), Command::None);
    assert_eq!(d.key(Key::Enter), Command::Diagnose(4));
    assert!(line_with(&screen(&d), "ticket #4").contains("ticket #4"));
    assert!(screen(&d).contains("diagnosing…"));
    d.diagnosed(
        4,
        vec!["root cause: Redis is down (confidence 90%, redis_down)".into()],
    );
    let s = screen(&d);
    assert!(
        s.contains("root cause: Redis is down (confidence 90%"),
        "{s}"
    );
    // A ticket resolved meanwhile: the selection follows what is still open.
    d.set_tickets(vec![ticket(5, "node_down")]);
    assert_eq!(d.selected_ticket(), Some(5));
    assert_eq!(d.key(Key::Back), Command::None);
    assert!(d.detail.is_none());
    assert_eq!(d.key(Key::Quit), Command::Quit);
}

#[test]
fn an_observation_that_failed_is_shown_as_such() {
    let mut d = dashboard();
    let mut r = report(3, vec![], vec![]);
    r.observation_error = Some("timed out after 1s".into());
    d.observed(&r, None);
    assert!(!d.healthy());
    assert!(
        line_with(&screen(&d), "operator dashboard")
            .contains("OBSERVATION FAILED: timed out after 1s")
    );
    assert_eq!(
        d.invariants.iter().filter(|r| r.level != Level::Ok).count(),
        0
    );
}
