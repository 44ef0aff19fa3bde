//! A real `redis-server` for tests, started from one command line ([`RedisBuilder`]).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::ports::{free_port, wait_for_port};
use crate::process::ChildGuard;
use crate::tls::TlsFiles;

use crate::resp::raw_command_as;

/// How a test's `redis-server` is started: on a free (or given) loopback port, with no
/// persistence, in a temporary directory, optionally TLS-only and with a password, plus any
/// extra arguments (`--maxmemory 10mb`, ...). Build one with [`RedisServer::builder`].
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct RedisBuilder {
    port: Option<u16>,
    password: Option<String>,
    tls: bool,
    extra: Vec<String>,
}

impl RedisBuilder {
    /// Listens on `port` instead of a free one.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Requires `password` (`--requirepass`); [`RedisServer::url`] and [`RedisServer::cmd`] use it.
    pub fn password(mut self, password: &str) -> Self {
        self.password = Some(password.to_owned());
        self
    }

    /// Serves TLS only (`rediss://`), with a certificate for 127.0.0.1 signed by a test CA
    /// ([`RedisServer::tls_ca_file`]); clients need no certificate.
    pub fn tls(mut self) -> Self {
        self.tls = true;
        self
    }

    /// Adds command-line arguments (e.g. `["--maxmemory", "10mb"]`).
    pub fn args<S: Into<String>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.extra.extend(args.into_iter().map(Into::into));
        self
    }

    /// Starts the server and waits until it answers (PING, or for TLS a TCP connection).
    ///
    /// # Panics
    /// When `redis-server` is missing (the message says how to install it) or does not start
    /// after 5 attempts (each on a new free port, unless the port was given).
    pub fn start(self) -> RedisServer {
        let dir = tempfile::tempdir().expect("temporary directory");
        let tls = self.tls.then(|| TlsFiles::generate(dir.path()));
        for attempt in 0..5 {
            let port = self.port.unwrap_or_else(free_port);
            let guard = self.spawn(port, dir.path(), tls.as_ref());
            if self.answers(port, Duration::from_secs(10)) {
                return RedisServer {
                    guard,
                    port,
                    dir,
                    tls,
                    config: self,
                };
            }
            drop(guard);
            eprintln!("redis-server did not start on port {port} (attempt {attempt}); retrying");
        }
        panic!("redis-server did not start after 5 attempts; see its output above");
    }

    fn spawn(&self, port: u16, dir: &Path, tls: Option<&TlsFiles>) -> ChildGuard {
        let mut cmd = self.command(port, dir, tls);
        ChildGuard::spawn(format!("redis-server:{port}"), &mut cmd)
    }

    /// Whether the server on `port` answers within `timeout`: PING (after AUTH), or for TLS,
    /// which plain RESP cannot speak, a TCP connection.
    fn answers(&self, port: u16, timeout: Duration) -> bool {
        if self.tls {
            return wait_for_port(port, timeout);
        }
        let password = self.password.as_deref();
        crate::wait::wait_for(timeout, || {
            raw_command_as(port, password, &["PING"]).is_ok_and(|r| r == "+PONG")
        })
    }

    /// The one `redis-server` command line of the tests.
    fn command(&self, port: u16, dir: &Path, tls: Option<&TlsFiles>) -> Command {
        let mut cmd = Command::new(redis_server_bin());
        match tls {
            Some(files) => {
                cmd.args(["--port", "0", "--tls-port", &port.to_string()])
                    .arg("--tls-cert-file")
                    .arg(&files.cert)
                    .arg("--tls-key-file")
                    .arg(&files.key)
                    .arg("--tls-ca-cert-file")
                    .arg(&files.ca)
                    .args(["--tls-auth-clients", "no"]);
            }
            None => {
                cmd.args(["--port", &port.to_string()]);
            }
        }
        cmd.args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir)
            .args(["--daemonize", "no", "--loglevel", "warning"]);
        if let Some(password) = &self.password {
            cmd.args(["--requirepass", password]);
        }
        cmd.args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        cmd
    }
}

/// A `redis-server` of a test (see [`RedisBuilder`]), killed when dropped.
///
/// The binary is `$REDIS_SERVER_BIN` or `redis-server` from `PATH`.
#[derive(Debug)]
pub struct RedisServer {
    guard: ChildGuard,
    port: u16,
    dir: tempfile::TempDir,
    tls: Option<TlsFiles>,
    config: RedisBuilder,
}

impl RedisServer {
    /// How to start a server other than with the defaults of [`RedisServer::start`].
    pub fn builder() -> RedisBuilder {
        RedisBuilder::default()
    }

    /// Starts a server on a free port and waits until it answers PING.
    ///
    /// # Panics
    /// As [`RedisBuilder::start`].
    pub fn start() -> Self {
        Self::builder().start()
    }

    /// The port it listens on (its TLS port when TLS-only).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>`, or `rediss://` for TLS, with `:<password>@` when it has one.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        let auth = self
            .config
            .password
            .as_ref()
            .map_or_else(String::new, |p| format!(":{p}@"));
        format!("{scheme}://{auth}127.0.0.1:{}", self.port)
    }

    /// The CA that signed its certificate, when it serves TLS.
    pub fn tls_ca_file(&self) -> Option<&Path> {
        self.tls.as_ref().map(|t| t.ca.as_path())
    }

    /// Kills the server with SIGKILL (as a crash would).
    pub fn kill(&mut self) {
        self.guard.kill();
    }

    /// Sends a signal to the server (SIGSTOP freezes it, SIGCONT resumes it).
    pub fn signal(&self, signal: i32) {
        self.guard.signal(signal);
    }

    /// Starts the server again on the same port with the same command line, empty (no
    /// persistence), after [`kill`](Self::kill).
    ///
    /// # Panics
    /// When it does not come back within 10 seconds.
    pub fn restart(&mut self) {
        self.guard.kill();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            self.guard = self
                .config
                .spawn(self.port, self.dir.path(), self.tls.as_ref());
            if self.config.answers(self.port, Duration::from_secs(2)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not restart on port {}",
                self.port
            );
        }
    }

    /// Sends one command through a raw connection (authenticated when the server has a
    /// password) and returns the first line of the reply (enough for `PING`, `FLUSHALL`, `SET`,
    /// `DEBUG SLEEP`, `CLIENT PAUSE`...).
    ///
    /// # Panics
    /// When the server cannot be reached, or serves TLS only (plain RESP cannot reach it).
    pub fn cmd(&self, args: &[&str]) -> String {
        assert!(
            self.tls.is_none(),
            "RedisServer::cmd speaks plain RESP; this server serves TLS only"
        );
        raw_command_as(self.port, self.config.password.as_deref(), args)
            .unwrap_or_else(|e| panic!("redis command {args:?} failed: {e}"))
    }
}

/// The redis-server binary: `$REDIS_SERVER_BIN`, else `redis-server` on `PATH`.
///
/// # Panics
/// When it cannot be found, saying how to install it.
pub fn redis_server_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("REDIS_SERVER_BIN") {
        return PathBuf::from(bin);
    }
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("redis-server"))
        .find(|p| p.is_file());
    found.unwrap_or_else(|| {
        panic!(
            "redis-server is not on PATH: these tests need a real Redis. Install it with \
             `sudo apt-get install -y redis-server` (Debian/Ubuntu), or set REDIS_SERVER_BIN"
        )
    })
}
