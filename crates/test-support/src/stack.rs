//! A local rate-limiter stack for black-box tests: a real `redis-server` and real
//! `ratelimiter-node` processes on free loopback ports, all killed on drop.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::bins::workspace_bin;
use crate::process::ChildGuard;
use crate::redis::RedisServer;

/// Number of leading flags every node gets (`--listen`, `--redis-url`, `--node-id` and values).
const BASE_ARGS: usize = 6;

/// One node of a [`LocalStack`].
#[derive(Debug)]
pub struct StackNode {
    guard: ChildGuard,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Its `--node-id`.
    pub id: String,
    args: Vec<String>,
}

impl StackNode {
    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Whether the process is running.
    pub fn is_running(&mut self) -> bool {
        self.guard.is_running()
    }

    /// Sends a signal (SIGSTOP, SIGCONT, SIGTERM...).
    pub fn signal(&self, signal: i32) {
        self.guard.signal(signal);
    }
}

/// Redis and `n` nodes sharing it.
#[derive(Debug)]
pub struct LocalStack {
    /// The Redis server.
    pub redis: RedisServer,
    /// The nodes, in start order (`node-1`, `node-2`, ...).
    pub nodes: Vec<StackNode>,
    bin: PathBuf,
}

impl LocalStack {
    /// Starts Redis and `n` nodes (`--node-id node-<i>`), each with `extra(i)` flags, and waits
    /// until every node is ready.
    ///
    /// # Panics
    /// When a binary is missing or a node does not become ready within 15 seconds.
    pub fn start(n: usize, extra: impl Fn(usize) -> Vec<String>) -> Self {
        let redis = RedisServer::start();
        let bin = workspace_bin("ratelimiter-node");
        let mut stack = Self {
            redis,
            nodes: Vec::new(),
            bin,
        };
        for (i, port) in (1..=n).zip(crate::ports::free_ports(n)) {
            let mut args = vec![
                "--listen".to_owned(),
                format!("127.0.0.1:{port}"),
                "--redis-url".to_owned(),
                stack.redis.url(),
                "--node-id".to_owned(),
                format!("node-{i}"),
            ];
            args.extend(extra(i));
            let guard = spawn_node(&stack.bin, &args, &format!("node-{i}"));
            stack.nodes.push(StackNode {
                guard,
                port,
                id: format!("node-{i}"),
                args,
            });
        }
        for i in 0..n {
            stack.wait_ready(i);
        }
        stack
    }

    /// Base URLs of the nodes.
    pub fn node_urls(&self) -> Vec<String> {
        self.nodes.iter().map(StackNode::url).collect()
    }

    /// The nodes' URLs joined by commas, as `--nodes` takes them.
    pub fn nodes_flag(&self) -> String {
        self.node_urls().join(",")
    }

    /// Waits until node `i` (0-based) answers `/readyz` with 200.
    ///
    /// # Panics
    /// After 15 seconds.
    pub fn wait_ready(&mut self, i: usize) {
        let port = self.nodes[i].port;
        let ok = wait_for(Duration::from_secs(15), || {
            http_get(port, "/readyz").is_ok_and(|(s, _)| s == 200)
        });
        let running = self.nodes[i].is_running();
        assert!(
            ok,
            "node {} (port {port}) not ready after 15 s; running: {running}",
            self.nodes[i].id
        );
    }

    /// Kills node `i` with SIGKILL.
    pub fn kill_node(&mut self, i: usize) {
        self.nodes[i].guard.kill();
    }

    /// Starts node `i` again with the same flags (after [`kill_node`](Self::kill_node)) and waits
    /// until it is ready.
    pub fn restart_node(&mut self, i: usize) {
        self.nodes[i].guard.kill();
        let node = &mut self.nodes[i];
        node.guard = spawn_node(&self.bin, &node.args, &node.id);
        self.wait_ready(i);
    }

    /// Restarts node `i` with its base flags plus `extra` instead of the extra flags it had.
    pub fn restart_node_with(&mut self, i: usize, extra: Vec<String>) {
        let node = &mut self.nodes[i];
        node.args.truncate(BASE_ARGS);
        node.args.extend(extra);
        self.restart_node(i);
    }
}

fn spawn_node(bin: &PathBuf, args: &[String], id: &str) -> ChildGuard {
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .env(
            "RUST_LOG",
            std::env::var("NODE_LOG").unwrap_or_else(|_| "error".into()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    for (var, _) in std::env::vars() {
        if var.starts_with("RATELIMITER_") {
            cmd.env_remove(var);
        }
    }
    ChildGuard::spawn(format!("ratelimiter-node:{id}"), &mut cmd)
}

/// Polls `cond` every 20 ms until it holds or `timeout` passes.
pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A minimal `GET` on 127.0.0.1: `(status, body)`.
///
/// # Errors
/// I/O errors, or a response that is not HTTP.
pub fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    http(port, "GET", path, None)
}

/// A minimal request with an optional JSON body on 127.0.0.1: `(status, body)`.
///
/// # Errors
/// I/O errors, or a response that is not HTTP.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    json: Option<&str>,
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let body = json.unwrap_or("");
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    if json.is_some() {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream.write_all(req.as_bytes())?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw)?;
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {raw:?}")))?;
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}
