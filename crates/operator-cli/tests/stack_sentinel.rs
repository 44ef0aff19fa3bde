//! `operator stack up --redis sentinel` through the binary: a real primary, its replica and
//! three sentinels as local processes, three nodes in sentinel mode; `chaos kill-redis-primary
//! 1` (a sentinel promotes the replica, the nodes follow it, limits exact again) and its undo
//! (the old primary rejoins as a replica); the monitor naming the failover; `stack down`
//! leaving nothing behind.

mod stack_support;

use std::process::{Command, Stdio};
use std::time::Duration;

use stack_support::{alive, listening, operator, stderr, stdout};
use test_support::wait::wait_for;

fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// A sentinel stack's state directory and ports; `stack down` on drop.
struct SentinelStack {
    dir: tempfile::TempDir,
    /// Primary, replica, then the three sentinels.
    redis: Vec<u16>,
    nodes: Vec<u16>,
}

impl SentinelStack {
    fn new() -> Self {
        // Two runs of consecutive free ports: the data pair and the sentinels.
        let run = |len: u16| loop {
            let base = test_support::free_ports(1)[0];
            let ports: Vec<u16> = (0..len).filter_map(|i| base.checked_add(i)).collect();
            if ports.len() == usize::from(len)
                && ports
                    .iter()
                    .all(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
            {
                return ports;
            }
        };
        let mut redis = run(2);
        let sentinels = loop {
            let s = run(3);
            if s.iter().all(|p| !redis.contains(p)) {
                break s;
            }
        };
        redis.extend(sentinels);
        let nodes = loop {
            let n = test_support::free_ports(3);
            if n.iter().all(|p| !redis.contains(p)) {
                break n;
            }
        };
        Self {
            dir: tempfile::tempdir().unwrap(),
            redis,
            nodes,
        }
    }

    fn path(&self) -> String {
        self.dir.path().display().to_string()
    }

    fn sentinel_urls(&self) -> String {
        self.redis[2..]
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn node_urls(&self) -> String {
        self.nodes
            .iter()
            .map(|p| format!("http://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The monitor's flags for this stack.
    fn monitor_flags(&self) -> Vec<String> {
        [
            "monitor",
            "--subject",
            "ratelimit",
            "--redis-mode",
            "sentinel",
            "--redis-url",
            &self.sentinel_urls(),
            "--sentinel-master",
            "ratelimit",
            "--nodes",
            &self.node_urls(),
        ]
        .into_iter()
        .map(str::to_owned)
        .collect()
    }

    /// `operator monitor --once`: its exit code and stdout.
    fn monitor_once(&self) -> (Option<i32>, String) {
        let mut args = self.monitor_flags();
        args.push("--once".into());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = operator(&args);
        (
            out.status.code(),
            format!("{}{}", stdout(&out), stderr(&out)),
        )
    }

    fn chaos(&self, args: &[&str]) -> String {
        let dir = self.path();
        let mut all = vec!["chaos", "--state-dir", &dir, "--subject", "ratelimit"];
        all.extend(args);
        let out = operator(&all);
        let text = stdout(&out);
        assert!(out.status.success(), "{args:?}: {text}{}", stderr(&out));
        text
    }
}

impl Drop for SentinelStack {
    fn drop(&mut self) {
        let _ = operator(&["stack", "down", "--state-dir", &self.path()]);
    }
}

/// Sends `n` checks of `key` (policy `exact`: 10 an hour) round-robin over the nodes: the
/// number allowed. Every answer must be 200 or 429.
fn allowed(s: &SentinelStack, key: &str, n: usize) -> usize {
    let mut allowed = 0;
    for i in 0..n {
        let node = s.nodes[i % s.nodes.len()];
        let body = format!(r#"{{"key": "{key}"}}"#);
        let (status, text) =
            test_support::http::request(node, "POST", "/v1/check", Some(&body)).unwrap();
        assert!(status == 200 || status == 429, "{status}: {text}");
        allowed += usize::from(status == 200);
    }
    allowed
}

#[test]
fn a_sentinel_stack_fails_over_a_killed_primary_and_comes_down_clean() {
    let s = SentinelStack::new();
    let dir = s.path();
    let node_ports = s
        .nodes
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let policies = s.dir.path().join("policies.toml");
    std::fs::write(
        &policies,
        "[policies.default]\nwindows = [{ limit = 100, window_ms = 1000 }]\n\n\
         [policies.exact]\nmatch = \"exact:*\"\nwindows = [{ limit = 10, window_ms = 3600000 }]\n",
    )
    .unwrap();
    let out = operator(&[
        "stack",
        "up",
        "--redis",
        "sentinel",
        "--redis-port",
        &s.redis[0].to_string(),
        "--sentinel-port",
        &s.redis[2].to_string(),
        "--node-ports",
        &node_ports,
        "--policies",
        &policies.display().to_string(),
        "--state-dir",
        &dir,
    ]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    for c in [
        "redis-1",
        "redis-2",
        "sentinel-1",
        "sentinel-2",
        "sentinel-3",
    ] {
        assert!(text.contains(c), "{c}: {text}");
    }
    assert_eq!(text.matches(" ready ").count(), 8, "{text}");
    assert!(
        text.contains(&format!(
            "--redis-mode sentinel --redis-url {} --sentinel-master ratelimit",
            s.sentinel_urls()
        )),
        "the monitor hint names the sentinel flags: {text}"
    );
    // The nodes decide through Redis: exactly the limit over three nodes.
    assert_eq!(allowed(&s, "exact:before", 15), 10);
    let (code, report) = s.monitor_once();
    assert_eq!(code, Some(0), "a fresh sentinel stack is healthy: {report}");

    // A monitor running across the failover names it (one `--once` has no earlier primary to
    // compare with).
    let monitor_out = s.dir.path().join("monitor.out");
    let mut args = vec![
        "--db".to_owned(),
        s.dir.path().join("tickets.db").display().to_string(),
    ];
    args.extend(s.monitor_flags());
    args.extend(["--interval".to_owned(), "500ms".to_owned()]);
    let out_file = std::fs::File::create(&monitor_out).unwrap();
    let err_file = out_file.try_clone().unwrap();
    let mut monitor = test_support::ChildGuard::spawn(
        "operator monitor",
        Command::new(env!("CARGO_BIN_EXE_operator"))
            .args(&args)
            .env("NO_COLOR", "1")
            .env("OPERATOR_LOG", "error")
            .stdout(Stdio::from(out_file))
            .stderr(Stdio::from(err_file)),
    );
    let old_primary = format!("127.0.0.1:{}", s.redis[0]);
    assert!(
        wait_for(Duration::from_secs(20), || read(&monitor_out)
            .contains("monitoring ratelimit")),
        "the monitor did not start: {}",
        read(&monitor_out)
    );

    let text = s.chaos(&["kill-redis-primary", "1"]);
    assert!(
        text.contains("ok   a sentinel promoted the replica"),
        "{text}"
    );
    let new_primary = format!("127.0.0.1:{}", s.redis[1]);
    assert!(text.contains(&new_primary), "{text}");
    // The nodes follow the new primary: a shared limit exact again, without restarting them.
    let mut tries = 0;
    loop {
        let key = format!("exact:after-{tries}");
        if allowed(&s, &key, 15) == 10 {
            break;
        }
        tries += 1;
        assert!(tries < 60, "the nodes never decided exactly again");
        std::thread::sleep(Duration::from_millis(500));
    }
    let failover = format!("failover_detected[{old_primary}]");
    assert!(
        wait_for(Duration::from_secs(20), || read(&monitor_out)
            .contains(&failover)),
        "the monitor did not name the failover: {}",
        read(&monitor_out)
    );
    let said = read(&monitor_out);
    assert!(
        said.contains(&format!("primary {old_primary} replaced by {new_primary}")),
        "{said}"
    );
    monitor.kill();
    let (code, report) = s.monitor_once();
    assert_eq!(code, Some(1), "the old primary is down: {report}");
    assert!(report.contains("replica_live"), "{report}");

    let text = s.chaos(&["undo", "kill-redis-primary", "1"]);
    assert!(
        text.contains("ok   the old primary rejoined as a replica"),
        "{text}"
    );
    let (code, report) = s.monitor_once();
    assert_eq!(code, Some(0), "whole again: {report}");

    let pids = stack_support::pids_in(s.dir.path());
    assert_eq!(pids.len(), 8);
    let out = operator(&["stack", "down", "--state-dir", &dir]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    for pid in &pids {
        assert!(!alive(*pid), "pid {pid} survived stack down");
    }
    for port in s.redis.iter().chain(&s.nodes) {
        assert!(!listening(*port), "port {port} still listening");
    }
}
