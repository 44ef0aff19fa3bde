//! Seed 003's teaching mode end to end on a real local stack (`operator stack up`: a real
//! `redis-server`, three real `ratelimiter-node` processes): `operator chaos naive-mode` restarts
//! every node with `--limiter-mode naive`; a burst of concurrent checks of one key is admitted
//! past its limit; the real continuous monitor reports `over_admission` (each node in the mode,
//! and the key's counter with how far over); the offline diagnosis names non-atomic
//! check-and-increment; `chaos undo naive-mode` makes the nodes atomic again.

mod stack_support;
mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use stack_support::{StackDir, operator, stderr, stdout};
use support::{DEADLINE, Monitor};

/// A minute-long window, so that the over-admitted counter stays in the current window while the
/// monitor watches.
const POLICIES: &str = r#"
[policies.default]
windows = [{ limit = 100, window_ms = 1000 }]

[policies.burst]
match = "burst:*"
windows = [{ limit = 100, window_ms = 60000 }]
"#;

/// `n` checks of `key` sent at once over `ports` (each connection opened first, then every
/// request written at a barrier); how many were admitted.
fn burst(ports: &[u16], key: &str, n: usize) -> usize {
    let barrier = Arc::new(Barrier::new(n));
    let body = format!(r#"{{"key": "{key}"}}"#);
    let request = format!(
        "POST /v1/check HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let threads: Vec<_> = (0..n)
        .map(|i| {
            let (port, barrier, request) =
                (ports[i % ports.len()], barrier.clone(), request.clone());
            std::thread::spawn(move || {
                let stream = TcpStream::connect(("127.0.0.1", port));
                barrier.wait();
                let mut stream = stream.ok()?;
                stream
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .ok()?;
                stream.write_all(request.as_bytes()).ok()?;
                let mut raw = String::new();
                stream.read_to_string(&mut raw).ok()?;
                Some(raw.starts_with("HTTP/1.1 200"))
            })
        })
        .collect();
    threads
        .into_iter()
        .map(|t| t.join().unwrap_or(None))
        .filter(|ok| *ok == Some(true))
        .count()
}

#[test]
fn naive_mode_over_admits_is_reported_diagnosed_as_non_atomic_and_undone() {
    let s = StackDir::new();
    let policies = s.dir.path().join("policies.toml");
    std::fs::write(&policies, POLICIES).unwrap();
    let flags = s.flags();
    let mut args = vec!["stack", "up", "--policies", policies.to_str().unwrap()];
    args.extend(flags.iter().map(String::as_str));
    let out = operator(&args);
    assert!(
        out.status.success(),
        "stack up: {}{}",
        stdout(&out),
        stderr(&out)
    );
    let mut m = Monitor::start_on(&s.redis_url(), &s.nodes_flag(), &[]);

    let out = s.chaos(&["naive-mode"]);
    assert!(
        stdout(&out).contains("node-3 decides in limiter mode naive"),
        "{}",
        stdout(&out)
    );
    // The race is real, so whether one burst wins it is a matter of timing (a loaded machine
    // can serialize it): up to five bursts, each on a key of its own, until one over-admits.
    let (key, admitted) = (1..=5)
        .map(|i| {
            let key = format!("burst:{i}");
            let admitted = burst(&s.node_ports, &key, 300);
            (key, admitted)
        })
        .find(|(_, admitted)| *admitted > 100)
        .expect("naive mode admitted no more than the limit of 100 in five bursts of 300");

    // The key's counter: how far over, and which nodes did it.
    let v = m.wait("opened", "over_admission", Some("policy:burst"), DEADLINE);
    let message = v["message"].as_str().unwrap_or_default();
    // (The counter holds every admission, unless the burst straddled a minute's boundary.)
    assert!(
        message.contains(&format!("{key} (admitted ")) && message.contains(" of limit 100 (+"),
        "{admitted} admitted: {v}"
    );
    assert!(
        message.contains("decide in limiter mode naive (non-atomic check-and-increment)"),
        "{v}"
    );
    let (rule, root, summary) = s.diagnose(&m.db, &v["ticket"]);
    assert_eq!(rule, "non_atomic_check_and_increment", "{root}");
    assert!(root.starts_with("non-atomic check-and-increment"), "{root}");
    assert!(summary.contains(&format!("{key} admitted ")), "{summary}");

    // Each node in the mode has its own ticket, diagnosed the same way.
    let first = format!("127.0.0.1:{}", s.node_ports[0]);
    let v = m.wait("opened", "over_admission", Some(&first), DEADLINE);
    let (rule, _, _) = s.diagnose(&m.db, &v["ticket"]);
    assert_eq!(rule, "non_atomic_check_and_increment");

    let out = s.chaos(&["undo", "naive-mode"]);
    assert!(
        stdout(&out).contains("node-1 decides in limiter mode atomic"),
        "{}",
        stdout(&out)
    );
    m.wait("resolved", "over_admission", Some(&first), DEADLINE);
}
