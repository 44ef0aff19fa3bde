//! Helpers for the CLI's real-stack tests: the `operator monitor` process with its JSON event
//! stream, and a steady background load on the nodes.

#![allow(dead_code)] // each test file uses a different part

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use test_support::http::request as http;
use test_support::{ChildGuard, LocalStack};

/// `operator monitor --subject ratelimit --json` against a stack, its events collected.
pub struct Monitor {
    guard: ChildGuard,
    events: Receiver<Value>,
    /// Every event received so far, in order.
    pub seen: Vec<Value>,
    /// The ticket database.
    pub db: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Monitor {
    /// Starts the continuous monitor on `stack` with extra flags.
    pub fn start(stack: &LocalStack, extra: &[&str]) -> Self {
        Self::start_on(&stack.redis.url(), &stack.nodes_flag(), extra)
    }

    /// Starts the continuous monitor on the rate limiter at `redis_url` and `nodes`
    /// (comma-separated).
    pub fn start_on(redis_url: &str, nodes: &str, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("tickets.db");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_operator"));
        cmd.arg("--db")
            .arg(&db)
            .args([
                "--json",
                "monitor",
                "--subject",
                "ratelimit",
                "--redis-url",
                redis_url,
            ])
            .args(["--nodes", nodes])
            .args(extra)
            .env("OPERATOR_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut guard = ChildGuard::spawn("operator monitor", &mut cmd);
        let stdout = guard.take_stdout().expect("monitor stdout");
        let (tx, events) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                match serde_json::from_str::<Value>(&line) {
                    Ok(v) => {
                        if tx.send(v).is_err() {
                            break;
                        }
                    }
                    Err(e) => panic!("monitor printed a line that is not JSON ({e}): {line}"),
                }
            }
        });
        Self {
            guard,
            events,
            seen: Vec::new(),
            db,
            _dir: dir,
        }
    }

    /// Waits for an event matching `event` (`opened`, `resolved`...), `invariant` and, when given,
    /// `entity` (any entity when `None`); returns it. Events already seen count.
    ///
    /// # Panics
    /// After `timeout`, listing every event seen.
    pub fn wait(
        &mut self,
        event: &str,
        invariant: &str,
        entity: Option<&str>,
        timeout: Duration,
    ) -> Value {
        let what = format!(
            "{event} {invariant}{}",
            entity.map(|e| format!("[{e}]")).unwrap_or_default()
        );
        self.wait_for(&what, timeout, |v| {
            v["event"] == event
                && v["invariant"] == invariant
                && entity.is_none_or(|e| v["entity"] == e)
        })
    }

    /// Waits for an event about the subject as a whole (no entity).
    pub fn wait_whole(&mut self, event: &str, invariant: &str, timeout: Duration) -> Value {
        self.wait_for(&format!("{event} {invariant} (no entity)"), timeout, |v| {
            v["event"] == event && v["invariant"] == invariant && v["entity"].is_null()
        })
    }

    /// Waits for an event matching `pred`, described as `what` in the failure message.
    pub fn wait_for(
        &mut self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        if let Some(v) = self.seen.iter().find(|v| pred(v)) {
            return v.clone();
        }
        let deadline = Instant::now() + timeout;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.events.recv_timeout(left) {
                Ok(v) => {
                    self.seen.push(v.clone());
                    if pred(&v) {
                        return v;
                    }
                }
                Err(_) => break,
            }
        }
        panic!(
            "no {what} within {timeout:?}; events seen:\n{}",
            self.seen
                .iter()
                .map(Value::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }

    /// Every event received so far.
    pub fn seen_events(&self) -> &[Value] {
        &self.seen
    }

    /// Collects the events that arrive during `d`.
    pub fn collect_for(&mut self, d: Duration) -> Vec<Value> {
        let deadline = Instant::now() + d;
        let mut out = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            if let Ok(v) = self.events.recv_timeout(left) {
                self.seen.push(v.clone());
                out.push(v);
            }
        }
        out
    }

    /// Whether the monitor process still runs.
    pub fn is_running(&mut self) -> bool {
        self.guard.is_running()
    }
}

/// Requests sent continuously to every node (round-robin over a few keys) until dropped.
pub struct Load {
    stop: Arc<AtomicBool>,
    /// Answers by status code class: (2xx, 429, other).
    pub counts: Arc<Mutex<(u64, u64, u64)>>,
    sent: Arc<AtomicU64>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    /// About `per_second` requests per second spread over the nodes' ports.
    pub fn start(ports: Vec<u16>, per_second: u64) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let counts = Arc::new(Mutex::new((0, 0, 0)));
        let sent = Arc::new(AtomicU64::new(0));
        let mut threads = Vec::new();
        for (t, port) in ports.into_iter().enumerate() {
            let (stop, counts, sent) = (Arc::clone(&stop), Arc::clone(&counts), Arc::clone(&sent));
            let gap = Duration::from_micros(1_000_000 * 3 / per_second.max(1));
            threads.push(std::thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let body = format!(r#"{{"key": "load:{}:{}"}}"#, t, i % 20);
                    let status = http(port, "POST", "/v1/check", Some(&body))
                        .map(|r| r.0)
                        .unwrap_or(0);
                    let mut c = counts.lock().unwrap();
                    match status {
                        200..=299 => c.0 += 1,
                        429 => c.1 += 1,
                        _ => c.2 += 1,
                    }
                    drop(c);
                    sent.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                    std::thread::sleep(gap);
                }
            }));
        }
        Self {
            stop,
            counts,
            sent,
            threads,
        }
    }

    /// Requests sent so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Runs `operator` once with `args` and returns (exit code, stdout).
pub fn operator(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_operator"))
        .args(args)
        .env("OPERATOR_LOG", "error")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// `operator monitor --subject ratelimit --once --json` on `stack`: (exit code, document).
pub fn once(stack: &LocalStack, db: &std::path::Path) -> (i32, Value) {
    let db = db.to_string_lossy().into_owned();
    let redis = stack.redis.url();
    let nodes = stack.nodes_flag();
    let (code, out) = operator(&[
        "--db",
        &db,
        "monitor",
        "--subject",
        "ratelimit",
        "--once",
        "--json",
        "--redis-url",
        &redis,
        "--nodes",
        &nodes,
    ]);
    (
        code,
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not one JSON document ({e}): {out}")),
    )
}

/// Invariant names of a `--once --json` document.
pub fn violated(doc: &Value) -> Vec<String> {
    doc["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| match v["entity"].as_str() {
            Some(e) => format!("{}[{e}]", v["invariant"].as_str().unwrap()),
            None => v["invariant"].as_str().unwrap().to_owned(),
        })
        .collect()
}

/// A generous deadline for a fault to be detected or cleared.
pub const DEADLINE: Duration = Duration::from_secs(15);

pub mod alertmanager;
pub mod compose;
pub mod diagnosis;
