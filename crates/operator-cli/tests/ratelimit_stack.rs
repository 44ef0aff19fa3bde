//! `operator monitor --subject ratelimit` on the real stack: a real `redis-server`, three real
//! `ratelimiter-node` processes and the real `operator` binary. For each invariant, the real
//! fault makes it fire (a ticket opens) and the repair makes it clear (the ticket resolves).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value;
use support::{DEADLINE, Load, Monitor, once, violated};
use test_support::LocalStack;

fn stack() -> LocalStack {
    LocalStack::start(3, |_| vec![])
}

fn addr(stack: &LocalStack, i: usize) -> String {
    format!("127.0.0.1:{}", stack.nodes[i].port)
}

fn ports(stack: &LocalStack) -> Vec<u16> {
    stack.nodes.iter().map(|n| n.port).collect()
}

#[test]
fn once_is_healthy_on_a_healthy_stack_and_names_redis_when_it_is_killed() {
    let mut stack = stack();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let (code, doc) = once(&stack, &db);
    assert_eq!(
        (code, &doc["healthy"]),
        (0, &serde_json::json!(true)),
        "{doc:#}"
    );
    assert_eq!(doc["subject"], "ratelimit");
    assert!(doc["observed_at"].as_str().unwrap().ends_with('Z'));

    stack.redis.kill();
    let (code, doc) = once(&stack, &db);
    assert_eq!(code, 1, "{doc:#}");
    let names = violated(&doc);
    assert!(names.contains(&"redis_healthy".to_owned()), "{names:?}");
    assert!(
        !names.iter().any(|n| n.starts_with("node_down")),
        "nodes not ready because of Redis are not node_down: {names:?}"
    );
    let v = &doc["violations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["invariant"] == "redis_healthy")
        .unwrap();
    assert_eq!(v["severity"], "critical");
    assert!(v["since"].is_string() && v["message"].as_str().unwrap().contains("unreachable"));
}

#[test]
fn redis_killed_then_restarted_empty() {
    let mut stack = stack();
    let _load = Load::start(ports(&stack), 150);
    let mut m = Monitor::start(&stack, &[]);
    stack.redis.kill();
    let v = m.wait("opened", "redis_healthy", None, DEADLINE);
    assert_eq!(v["severity"], "critical");
    // Under load, the nodes decide by their failure mode (local): shared limiting is lost.
    m.wait("opened", "over_admission", Some(&addr(&stack, 0)), DEADLINE);

    stack.redis.restart();
    m.wait("resolved", "redis_healthy", None, DEADLINE);
    m.wait(
        "resolved",
        "over_admission",
        Some(&addr(&stack, 0)),
        DEADLINE,
    );
    // The nodes re-seeded the policies they had loaded: nothing was lost.
    let (code, doc) = once(&stack, &m.db);
    assert!(
        violated(&doc)
            .iter()
            .all(|v| !v.starts_with("config_loaded")),
        "{doc:#}"
    );
    assert!(code == 0 || code == 1);
}

#[test]
fn key_without_ttl_fires_and_a_ttl_clears_it() {
    let stack = stack();
    let mut m = Monitor::start(&stack, &[]);
    assert_eq!(stack.redis.cmd(&["SET", "ratelimit:leftover", "1"]), "+OK");
    let v = m.wait("opened", "no_stuck_keys", None, DEADLINE);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("ratelimit:leftover"),
        "{v}"
    );
    assert_eq!(
        stack.redis.cmd(&["PEXPIRE", "ratelimit:leftover", "60000"]),
        ":1"
    );
    m.wait("resolved", "no_stuck_keys", None, DEADLINE);
}

#[test]
fn policies_deleted_from_redis_fire_until_the_nodes_restore_them() {
    let stack = stack();
    let mut m = Monitor::start(&stack, &[]);
    // Frozen nodes cannot restore the policies from memory, so the gap is observable.
    for n in &stack.nodes {
        n.signal(libc_sig::STOP);
    }
    assert_eq!(
        stack.redis.cmd(&["DEL", "ratelimit:{shared}:policies"]),
        ":1"
    );
    let v = m.wait("opened", "config_loaded", None, DEADLINE);
    assert_eq!(v["severity"], "critical");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("no policies in Redis"),
        "{v}"
    );
    for n in &stack.nodes {
        n.signal(libc_sig::CONT);
    }
    m.wait("resolved", "config_loaded", None, DEADLINE);
    assert_eq!(
        stack
            .redis
            .cmd(&["HEXISTS", "ratelimit:{shared}:policies", "version"]),
        ":1",
        "restored by the nodes"
    );
}

#[test]
fn policy_changed_behind_the_nodes_back_is_stale_config_until_the_version_moves() {
    let stack = stack();
    let mut m = Monitor::start(&stack, &[]);
    let spec = r#"{"windows":[{"limit":7,"window_ms":1000}]}"#;
    assert_eq!(
        stack.redis.cmd(&[
            "HSET",
            "ratelimit:{shared}:policies",
            "policy:default",
            spec
        ]),
        ":0"
    );
    let v = m.wait("opened", "config_loaded", Some(&addr(&stack, 1)), DEADLINE);
    assert!(
        v["message"].as_str().unwrap().contains("but Redis holds"),
        "{v}"
    );
    // Bumping the version makes every node reload.
    assert!(
        stack
            .redis
            .cmd(&["HINCRBY", "ratelimit:{shared}:policies", "version", "1"])
            .starts_with(':')
    );
    for i in 0..3 {
        m.wait(
            "resolved",
            "config_loaded",
            Some(&addr(&stack, i)),
            DEADLINE,
        );
    }
}

#[test]
fn killed_node_opens_its_own_ticket_only_and_resolves_when_back() {
    let mut stack = stack();
    let _load = Load::start(vec![stack.nodes[0].port, stack.nodes[2].port], 100);
    let mut m = Monitor::start(&stack, &[]);
    let victim = addr(&stack, 1);
    stack.kill_node(1);
    let v = m.wait("opened", "node_down", Some(&victim), DEADLINE);
    assert_eq!(v["severity"], "critical");
    m.collect_for(Duration::from_secs(2));
    let others: Vec<_> = m
        .seen
        .iter()
        .filter(|v| v["event"] == "opened" && v["entity"] != victim.as_str())
        .collect();
    assert!(others.is_empty(), "only the killed node fires: {others:?}");
    stack.restart_node(1);
    m.wait("resolved", "node_down", Some(&victim), DEADLINE);
}

/// Keeps Redis busy (a Lua script spinning on `TIME` for `busy`) back to back until dropped:
/// every command waits, none fails.
struct BusyRedis {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BusyRedis {
    fn start(redis: &test_support::RedisServer, busy: Duration) -> Self {
        let script = format!(
            "local function us() local t = redis.call('TIME') return t[1] * 1000000 + t[2] end \
             local s = us() while us() - s < {} do end return 1",
            busy.as_micros()
        );
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, port) = (Arc::clone(&stop), redis.port());
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                let reply = test_support::resp::raw_command(port, &["EVAL", &script, "0"]);
                assert_eq!(reply.as_deref().ok(), Some(":1"), "{reply:?}");
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for BusyRedis {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn a_slow_redis_makes_decisions_slow() {
    // Redis answers, slowly: within the nodes' timeout (raised here to 1 s), so their breakers
    // stay closed and each decision waits. (A Redis past the timeout is skipped by the breaker
    // and shows as over_admission instead: decided by the failure mode.)
    let stack = LocalStack::start(3, |_| vec!["--redis-timeout-ms".into(), "1000".into()]);
    let _load = Load::start(ports(&stack), 300);
    let mut m = Monitor::start(&stack, &["--pending", "high_latency=1s"]);
    let busy = BusyRedis::start(&stack.redis, Duration::from_millis(150));
    let v = m.wait("opened", "high_latency", Some(&addr(&stack, 0)), DEADLINE);
    assert!(
        v["message"].as_str().unwrap().contains("decision p99"),
        "{v}"
    );
    drop(busy);
    m.wait("resolved", "high_latency", Some(&addr(&stack, 0)), DEADLINE);
}

#[test]
fn redis_paused_past_the_nodes_timeout_is_decided_by_failure_mode_not_slowly() {
    let stack = stack();
    let _load = Load::start(ports(&stack), 300);
    let mut m = Monitor::start(&stack, &[]);
    // Reads (and the monitor) go on; the nodes' decisions, all writes, time out, then skip Redis.
    assert_eq!(
        stack.redis.cmd(&["CLIENT", "PAUSE", "4000", "WRITE"]),
        "+OK"
    );
    let v = m.wait("opened", "over_admission", Some(&addr(&stack, 0)), DEADLINE);
    assert!(
        v["message"].as_str().unwrap().contains("failure mode"),
        "{v}"
    );
    m.wait(
        "resolved",
        "over_admission",
        Some(&addr(&stack, 0)),
        DEADLINE,
    );
    let slow: Vec<&Value> = m
        .seen_events()
        .iter()
        .filter(|e| e["invariant"] == "high_latency" && e["event"] == "opened")
        .collect();
    assert!(
        slow.is_empty(),
        "decisions waited for the paused Redis: {slow:?}"
    );
}

#[test]
fn skewed_node_clock_is_drift_until_fixed() {
    let mut stack = LocalStack::start(3, |i| {
        if i == 3 {
            vec!["--clock-offset-ms".into(), "4000".into()]
        } else {
            vec![]
        }
    });
    let mut m = Monitor::start(&stack, &[]);
    let skewed = addr(&stack, 2);
    let v = m.wait("opened", "counter_drift", Some(&skewed), DEADLINE);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("ahead of Redis TIME"),
        "{v}"
    );
    stack.restart_node_with(2, vec![]);
    m.wait("resolved", "counter_drift", Some(&skewed), DEADLINE);
}

#[test]
fn counter_over_its_limit_is_over_admission() {
    let stack = stack();
    let policy = r#"{"match":"hour:*","windows":[{"limit":10,"window_ms":3600000}]}"#;
    let (status, body) = test_support::http::request(
        stack.nodes[0].port,
        "PUT",
        "/v1/policies/hourly",
        Some(policy),
    )
    .unwrap();
    assert!((200..300).contains(&status), "{status} {body}");
    let mut m = Monitor::start(&stack, &[]);
    // 50 admitted in the current hour against a limit of 10: something wrote past the script.
    let plant = "local t = redis.call('TIME') \
                 local w = math.floor((t[1] * 1000 + math.floor(t[2] / 1000)) / 3600000) \
                 redis.call('HSET', KEYS[1], 'w', w, 'c', 50, 'p', 0) \
                 redis.call('PEXPIRE', KEYS[1], 7200000) return w";
    let reply = stack.redis.cmd(&[
        "EVAL",
        plant,
        "1",
        "ratelimit:c:{hour:abuser}:hourly:3600000",
    ]);
    assert!(reply.starts_with(':'), "{reply}");
    let v = m.wait("opened", "over_admission", Some("policy:hourly"), DEADLINE);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("hour:abuser (admitted 50 of limit 10 (+400 %)"),
        "{v}"
    );
    assert_eq!(
        stack
            .redis
            .cmd(&["DEL", "ratelimit:c:{hour:abuser}:hourly:3600000"]),
        ":1"
    );
    m.wait(
        "resolved",
        "over_admission",
        Some("policy:hourly"),
        DEADLINE,
    );
}

#[test]
fn healthy_stack_under_steady_load_stays_quiet_for_30_seconds() {
    let stack = stack();
    let load = Load::start(ports(&stack), 200);
    let mut m = Monitor::start(&stack, &[]);
    let events = m.collect_for(Duration::from_secs(30));
    assert!(
        events.is_empty(),
        "a healthy stack produced events: {events:#?}"
    );
    assert!(m.is_running());
    let (ok, denied, other) = *load.counts.lock().unwrap();
    assert!(
        ok > 1_000 && other == 0,
        "the load really ran: {ok} ok, {denied} denied, {other} errors"
    );
}

/// Signal numbers, without a libc dependency in this crate's tests.
mod libc_sig {
    pub const STOP: i32 = 19;
    pub const CONT: i32 = 18;
}

#[test]
fn node_started_on_another_prefix_disagrees_and_is_drift_until_restarted_right() {
    // Its own policies too: policy versions are Redis milliseconds, so two nodes seeding the same
    // defaults in the same millisecond would (rightly) agree; other content always disagrees.
    let dir = tempfile::tempdir().unwrap();
    let own = dir.path().join("policies.toml");
    std::fs::write(
        &own,
        "[policies.default]\nwindows = [{ limit = 7, window_ms = 1000 }]\n",
    )
    .unwrap();
    let mut stack = LocalStack::start(3, |i| {
        if i == 3 {
            vec![
                "--key-prefix".into(),
                "other:".into(),
                "--policies".into(),
                own.display().to_string(),
            ]
        } else {
            vec![]
        }
    });
    let mut m = Monitor::start(&stack, &[]);
    let odd = addr(&stack, 2);
    let v = m.wait("opened", "counter_drift", Some(&odd), DEADLINE);
    assert_eq!(v["severity"], "critical");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("uses key prefix \"other:\""),
        "{v}"
    );
    // Its own policy set: the nodes disagree.
    let v = m.wait_whole("opened", "counter_drift", DEADLINE);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("nodes disagree on the policies"),
        "{v}"
    );
    stack.restart_node_with(2, vec![]);
    m.wait("resolved", "counter_drift", Some(&odd), DEADLINE);
    m.wait_whole("resolved", "counter_drift", DEADLINE);
}
