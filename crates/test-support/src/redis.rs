//! A real `redis-server` for tests.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::ports::free_port;
use crate::process::ChildGuard;

/// A `redis-server` on a free loopback port, with no persistence, in a temporary directory.
/// Killed when dropped.
///
/// The binary is `$REDIS_SERVER_BIN` or `redis-server` from `PATH`.
#[derive(Debug)]
pub struct RedisServer {
    guard: ChildGuard,
    port: u16,
    dir: tempfile::TempDir,
    extra: Vec<String>,
}

impl RedisServer {
    /// Starts a server and waits until it answers PING.
    ///
    /// # Panics
    /// When `redis-server` is missing (the message says how to install it) or does not start.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts a server with extra command-line arguments (e.g. `["--maxmemory", "10mb"]`).
    ///
    /// # Panics
    /// As [`RedisServer::start`].
    pub fn start_with(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let extra: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
        for attempt in 0..5 {
            let port = free_port();
            let guard = spawn(port, &dir, &extra);
            if wait_ready(port, Duration::from_secs(10)) {
                return Self {
                    guard,
                    port,
                    dir,
                    extra,
                };
            }
            drop(guard);
            eprintln!("redis-server did not start on port {port} (attempt {attempt}); retrying");
        }
        panic!("redis-server did not start after 5 attempts; see its output above");
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server with SIGKILL (as a crash would).
    pub fn kill(&mut self) {
        self.guard.kill();
    }

    /// Sends a signal to the server (SIGSTOP freezes it, SIGCONT resumes it).
    pub fn signal(&self, signal: i32) {
        self.guard.signal(signal);
    }

    /// Starts the server again on the same port, empty (no persistence), after [`kill`](Self::kill).
    ///
    /// # Panics
    /// When it does not come back within 10 seconds.
    pub fn restart(&mut self) {
        self.guard.kill();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            self.guard = spawn(self.port, &self.dir, &self.extra);
            if wait_ready(self.port, Duration::from_secs(2)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not restart on port {}",
                self.port
            );
        }
    }

    /// Sends one command through a raw connection and returns the first line of the reply
    /// (enough for `PING`, `FLUSHALL`, `SET`, `DEBUG SLEEP`, `CLIENT PAUSE`...).
    ///
    /// # Panics
    /// When the server cannot be reached.
    pub fn cmd(&self, args: &[&str]) -> String {
        raw_command(self.port, args)
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

fn spawn(port: u16, dir: &tempfile::TempDir, extra: &[String]) -> ChildGuard {
    let mut cmd = Command::new(redis_server_bin());
    cmd.args([
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
    ])
    .arg("--dir")
    .arg(dir.path())
    .args(["--daemonize", "no", "--loglevel", "warning"])
    .args(extra)
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::inherit());
    ChildGuard::spawn(format!("redis-server:{port}"), &mut cmd)
}

fn wait_ready(port: u16, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if raw_command(port, &["PING"]).is_ok_and(|r| r == "+PONG") {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Sends one RESP command and reads the reply: the first line for status, integer, error and
/// array replies (`+OK`, `:1`, `-ERR ...`, `*2`), the content for a bulk string (`$-1` for nil).
///
/// # Errors
/// I/O errors.
pub fn raw_command(port: u16, args: &[&str]) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut req = format!("*{}\r\n", args.len());
    for a in args {
        req.push_str(&format!("${}\r\n{}\r\n", a.len(), a));
    }
    stream.write_all(req.as_bytes())?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let line = line.trim_end().to_owned();
    match line.strip_prefix('$').and_then(|n| n.parse::<usize>().ok()) {
        Some(len) => {
            let mut body = vec![0u8; len + 2];
            std::io::Read::read_exact(&mut reader, &mut body)?;
            body.truncate(len);
            Ok(String::from_utf8_lossy(&body).into_owned())
        }
        None => Ok(line),
    }
}
