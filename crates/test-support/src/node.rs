//! A real `ratelimiter-node` process for black-box tests: the one way tests start a node.
//!
//! ```no_run
//! use test_support::{NodeProcess, RedisServer};
//! use test_support::node::Readiness;
//!
//! let redis = RedisServer::start();
//! // Shorthand: a free port, these flags, wait for /healthz.
//! let a = NodeProcess::start(&redis.url(), "a", &["--failure-mode", "open"]);
//! // The builder, for anything else.
//! let b = NodeProcess::builder(&redis.url(), "b")
//!     .args(["--redis-timeout-ms", "1000"])
//!     .wait_for(Readiness::Ready)
//!     .start();
//! # let _ = (a, b);
//! ```

use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use crate::bins::workspace_bin;
use crate::http;
use crate::ports::free_port;
use crate::process::ChildGuard;
use crate::wait::wait_for;

/// How long [`NodeProcess`] waits for a node to become healthy or ready.
pub const START_TIMEOUT: Duration = Duration::from_secs(15);

/// What starting a node waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// Nothing: the process is spawned (wait later with [`NodeProcess::wait`]).
    Spawned,
    /// `GET /healthz` answers 200: the node serves, with or without Redis.
    Healthy,
    /// `GET /readyz` answers 200: Redis answers and the node has loaded its policies from it.
    Ready,
}

/// How a node is started: `--listen 127.0.0.1:<port> --redis-url <url> --node-id <id>` and extra
/// flags, no `RATELIMITER_*` variable of the test's environment, `RUST_LOG` from `$NODE_LOG`
/// (default `error`). Build one with [`NodeProcess::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct NodeBuilder {
    bin: Option<PathBuf>,
    redis_url: String,
    id: String,
    port: Option<u16>,
    extra: Vec<String>,
    readiness: Readiness,
    envs: Vec<(String, String)>,
    log_file: Option<PathBuf>,
}

impl NodeBuilder {
    /// Listens on `port` instead of a free one.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Adds flags (e.g. `["--failure-mode", "open"]`).
    pub fn args<S: Into<String>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.extra.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable of the node (after the test's `RATELIMITER_*` variables are
    /// removed): the way to pass a secret, which must not appear in the process's argv.
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.envs.push((name.into(), value.into()));
        self
    }

    /// Appends the node's log (stderr) to `path` instead of the test's stderr.
    pub fn log_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.log_file = Some(path.into());
        self
    }

    /// Runs this binary instead of the workspace's `ratelimiter-node`.
    pub fn bin(mut self, bin: impl Into<PathBuf>) -> Self {
        self.bin = Some(bin.into());
        self
    }

    /// What [`start`](Self::start) waits for (default: [`Readiness::Healthy`]).
    pub fn wait_for(mut self, readiness: Readiness) -> Self {
        self.readiness = readiness;
        self
    }

    /// Spawns the node and waits as configured.
    ///
    /// # Panics
    /// When the binary is missing, or the node is not healthy (ready) within [`START_TIMEOUT`].
    pub fn start(self) -> NodeProcess {
        let mut node = self.spawn();
        node.wait();
        node
    }

    /// Spawns the node without waiting; [`NodeProcess::wait`] waits as configured. Starting
    /// several nodes this way lets them boot together.
    ///
    /// # Panics
    /// When the binary is missing.
    pub fn spawn(self) -> NodeProcess {
        let port = self.port.unwrap_or_else(free_port);
        let bin = self
            .bin
            .clone()
            .unwrap_or_else(|| workspace_bin("ratelimiter-node"));
        let mut node = NodeProcess {
            guard: None,
            port,
            id: self.id.clone(),
            bin,
            config: self,
        };
        node.spawn_process();
        node
    }
}

/// A `ratelimiter-node` process on 127.0.0.1, killed when dropped.
#[derive(Debug)]
pub struct NodeProcess {
    guard: Option<ChildGuard>,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Its `--node-id`.
    pub id: String,
    bin: PathBuf,
    config: NodeBuilder,
}

impl NodeProcess {
    /// How to start a node on `redis_url` as `id`.
    pub fn builder(redis_url: &str, id: &str) -> NodeBuilder {
        NodeBuilder {
            bin: None,
            redis_url: redis_url.to_owned(),
            id: id.to_owned(),
            port: None,
            extra: Vec::new(),
            readiness: Readiness::Healthy,
            envs: Vec::new(),
            log_file: None,
        }
    }

    /// Starts a node on `redis_url` as `id` with `extra` flags on a free port, and waits until
    /// `/healthz` answers.
    ///
    /// # Panics
    /// As [`NodeBuilder::start`].
    pub fn start(redis_url: &str, id: &str, extra: &[&str]) -> Self {
        Self::builder(redis_url, id)
            .args(extra.iter().copied())
            .start()
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url_for(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Whether the process is running.
    pub fn is_running(&mut self) -> bool {
        self.guard.as_mut().is_some_and(ChildGuard::is_running)
    }

    /// Sends a signal (SIGSTOP, SIGCONT, SIGTERM...) without waiting.
    pub fn signal(&self, signal: i32) {
        if let Some(guard) = &self.guard {
            guard.signal(signal);
        }
    }

    /// Kills the process with SIGKILL (as a crash would).
    pub fn kill(&mut self) {
        if let Some(guard) = &mut self.guard {
            guard.kill();
        }
    }

    /// Sends SIGTERM and waits for the process to exit; its exit status.
    pub fn terminate(&mut self) -> Option<ExitStatus> {
        let guard = self.guard.as_mut()?;
        guard.signal(libc::SIGTERM);
        guard.wait()
    }

    /// Waits as the builder said ([`Readiness`]).
    ///
    /// # Panics
    /// When the node is not healthy (ready) within [`START_TIMEOUT`].
    pub fn wait(&mut self) {
        match self.config.readiness {
            Readiness::Spawned => {}
            Readiness::Healthy => self.wait_until("/healthz"),
            Readiness::Ready => self.wait_ready(),
        }
    }

    /// Waits until `/readyz` answers 200.
    ///
    /// # Panics
    /// After [`START_TIMEOUT`].
    pub fn wait_ready(&mut self) {
        self.wait_until("/readyz");
    }

    /// Starts the node again (after [`kill`](Self::kill)) with the same flags on the same port,
    /// and waits as it first did.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn_process();
        self.wait();
    }

    /// [`restart`](Self::restart) with `extra` instead of the extra flags it had.
    pub fn restart_with(&mut self, extra: Vec<String>) {
        self.config.extra = extra;
        self.restart();
    }

    fn spawn_process(&mut self) {
        let c = &self.config;
        let mut cmd = Command::new(&self.bin);
        cmd.args(["--listen", &format!("127.0.0.1:{}", self.port)])
            .args(["--redis-url", &c.redis_url, "--node-id", &c.id])
            .args(&c.extra)
            .env(
                "RUST_LOG",
                std::env::var("NODE_LOG").unwrap_or_else(|_| "error".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (var, _) in std::env::vars_os() {
            let var_name = var.to_string_lossy();
            // The standard OpenTelemetry variables would turn tracing on behind a test's back.
            if var_name.starts_with("RATELIMITER_") || var_name.starts_with("OTEL_EXPORTER_OTLP_") {
                cmd.env_remove(var);
            }
        }
        cmd.envs(c.envs.iter().map(|(k, v)| (k, v)));
        if let Some(path) = &c.log_file {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .unwrap_or_else(|e| panic!("cannot open node log {}: {e}", path.display()));
            cmd.stderr(file);
        }
        let name = format!("ratelimiter-node:{}", c.id);
        self.guard = Some(ChildGuard::spawn(name, &mut cmd));
    }

    fn wait_until(&mut self, path: &str) {
        let port = self.port;
        let ok = wait_for(START_TIMEOUT, || {
            http::get(port, path).is_ok_and(|(status, _)| status == 200)
        });
        let running = self.is_running();
        assert!(
            ok,
            "node {} (port {port}) did not answer {path} with 200 within {START_TIMEOUT:?}; \
             running: {running}",
            self.id
        );
    }
}
