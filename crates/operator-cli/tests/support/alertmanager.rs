//! The receivers of the notification tests: a real Alertmanager (Debian's
//! `prometheus-alertmanager`, cluster gossip off), an in-test webhook receiver, a "black hole"
//! that accepts connections and never answers, and the real `promtool`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use serde_json::Value;
use test_support::{ChildGuard, free_port, wait_for};

/// A program from `PATH` (or `$<ENV>`), or a panic naming the package to install.
fn program(name: &str, env: &str, package: &str) -> PathBuf {
    if let Ok(p) = std::env::var(env) {
        return PathBuf::from(p);
    }
    test_support::docker::which(name).unwrap_or_else(|| {
        panic!("{name} is not on PATH: install it with `sudo apt-get install -y {package}` (or set {env})")
    })
}

/// A real Alertmanager on a free port, killed on drop.
pub struct Alertmanager {
    _guard: ChildGuard,
    /// Its port.
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Alertmanager {
    /// Starts it with a route to a receiver that sends nothing, and waits until it is ready.
    pub fn start() -> Self {
        let bin = program(
            "prometheus-alertmanager",
            "ALERTMANAGER_BIN",
            "prometheus-alertmanager",
        );
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("alertmanager.yml");
        std::fs::write(
            &config,
            "route:\n  receiver: nobody\n  group_wait: 1s\nreceivers:\n  - name: nobody\n",
        )
        .unwrap();
        let port = free_port();
        let mut cmd = Command::new(bin);
        cmd.arg(format!("--config.file={}", config.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let guard = ChildGuard::spawn("alertmanager", &mut cmd);
        let ready = wait_for(Duration::from_secs(20), || {
            test_support::http::get(port, "/-/ready").is_ok_and(|(s, _)| s == 200)
        });
        assert!(ready, "alertmanager did not become ready on port {port}");
        Self {
            _guard: guard,
            port,
            _dir: dir,
        }
    }

    /// Its base URL, as `--alertmanager-url` takes it.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The alerts it holds active now (`GET /api/v2/alerts`).
    pub fn alerts(&self) -> Vec<Value> {
        let (status, body) = test_support::http::get(self.port, "/api/v2/alerts").unwrap();
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<Value>(&body)
            .unwrap()
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Waits until an active alert matches `pred`, and returns it.
    pub fn wait_alert(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let alerts = self.alerts();
            if let Some(a) = alerts.iter().find(|a| pred(a)) {
                return a.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no alert {what} within {timeout:?}; active: {alerts:#?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until no active alert matches `pred`.
    pub fn wait_gone(&self, what: &str, timeout: Duration, pred: impl Fn(&Value) -> bool) {
        let deadline = Instant::now() + timeout;
        loop {
            let alerts = self.alerts();
            if !alerts.iter().any(&pred) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "alert {what} still active after {timeout:?}: {alerts:#?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// An in-test webhook receiver: answers 200 to every POST and hands over each JSON body.
pub struct Webhook {
    /// Its port.
    pub port: u16,
    bodies: Receiver<Value>,
    /// Every body received so far.
    pub seen: Vec<Value>,
}

impl Webhook {
    /// Listens on a free port (the thread ends with the test process).
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, bodies) = channel();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((k, v)) = line.split_once(':')
                        && k.eq_ignore_ascii_case("content-length")
                    {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_err() {
                    continue;
                }
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                if let Ok(v) = serde_json::from_slice::<Value>(&body)
                    && tx.send(v).is_err()
                {
                    break;
                }
            }
        });
        Self {
            port,
            bodies,
            seen: Vec::new(),
        }
    }

    /// Its URL, as `--webhook-url` takes it (with a path standing for a secret).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hooks/SECRET-PATH", self.port)
    }

    /// Waits for a body with `event` about `invariant`; returns it.
    pub fn wait(&mut self, event: &str, invariant: &str, timeout: Duration) -> Value {
        let matches = |v: &Value| v["event"] == event && v["invariant"] == invariant;
        if let Some(v) = self.seen.iter().find(|v| matches(v)) {
            return v.clone();
        }
        let deadline = Instant::now() + timeout;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.bodies.recv_timeout(left) {
                Ok(v) => {
                    self.seen.push(v.clone());
                    if matches(&v) {
                        return v;
                    }
                }
                Err(_) => break,
            }
        }
        panic!(
            "webhook got no {event} {invariant} within {timeout:?}; got: {:#?}",
            self.seen
        );
    }
}

/// A receiver that accepts connections and never answers: the worst unreachable Alertmanager.
pub struct BlackHole {
    /// Its port.
    pub port: u16,
    /// Connections accepted so far.
    pub accepted: Arc<AtomicU64>,
}

impl BlackHole {
    /// Listens on a free port; accepted connections are held open, unanswered.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicU64::new(0));
        let count = Arc::clone(&accepted);
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming().flatten() {
                count.fetch_add(1, Ordering::Relaxed);
                held.push(stream);
            }
        });
        Self { port, accepted }
    }
}

/// `GET /metrics` on `port`: the body.
pub fn scrape(port: u16) -> String {
    let (status, body) = test_support::http::get(port, "/metrics").unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

/// The value of the sample `name{labels}` (labels as written, e.g. `subject="ratelimit"`).
pub fn sample(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        l.strip_prefix(name_and_labels)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// Runs the real `promtool check metrics` on `text`: (success, its output).
pub fn promtool_check(text: &str) -> (bool, String) {
    let bin = program("promtool", "PROMTOOL_BIN", "prometheus");
    let mut child = Command::new(bin)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}
