//! A real Redis Sentinel set for tests ([`RedisSentinels`]): a primary, one replica and three
//! `redis-sentinel`s watching them with `down-after-milliseconds 2000`, so that a killed
//! primary is replaced within seconds. Everything is killed when dropped.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::ports::free_ports;
use crate::process::ChildGuard;
use crate::redis::redis_server_bin;
use crate::redis_tools::{find_bin, redis_cli, urls};
use crate::resp::raw_command;
use crate::wait::wait_for;

/// The name of the primary set the sentinels watch (`--sentinel-master`).
pub const SENTINEL_MASTER: &str = "mymaster";

/// `down-after-milliseconds` of the test sentinels.
pub const SENTINEL_DOWN_AFTER_MS: u64 = 2000;

#[derive(Debug)]
struct Proc {
    port: u16,
    dir: PathBuf,
    guard: Option<ChildGuard>,
}

/// A primary, a replica and three sentinels (quorum 2), on free loopback ports.
#[derive(Debug)]
pub struct RedisSentinels {
    data: Vec<Proc>,
    sentinels: Vec<Proc>,
    _dir: tempfile::TempDir,
}

impl RedisSentinels {
    /// Starts the primary, its replica (waiting until it is in sync) and three sentinels
    /// (waiting until each knows the primary, the replica and the other sentinels).
    ///
    /// # Panics
    /// When `redis-server` or `redis-sentinel` is missing (saying how to install them) or the
    /// set does not come up within 30 seconds.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let ports = free_ports(5);
        let mk = |port: u16| {
            let d = dir.path().join(port.to_string());
            std::fs::create_dir_all(&d).expect("directory");
            Proc {
                port,
                dir: d,
                guard: None,
            }
        };
        let mut data = vec![mk(ports[0]), mk(ports[1])];
        let mut sentinels: Vec<Proc> = ports[2..].iter().map(|&p| mk(p)).collect();
        let primary = data[0].port;
        data[0].guard = Some(spawn_data(data[0].port, &data[0].dir, None));
        data[1].guard = Some(spawn_data(data[1].port, &data[1].dir, Some(primary)));
        for d in &data {
            assert!(
                wait_for(Duration::from_secs(10), || raw_command(d.port, &["PING"])
                    .is_ok_and(|r| r == "+PONG")),
                "redis-server on {} did not start",
                d.port
            );
        }
        let replica = data[1].port;
        assert!(
            wait_for(Duration::from_secs(20), || {
                raw_command(replica, &["INFO", "replication"])
                    .is_ok_and(|i| i.contains("master_link_status:up"))
            }),
            "replica {replica} did not sync with {primary}"
        );
        for s in &mut sentinels {
            s.guard = Some(spawn_sentinel(s.port, &s.dir, primary));
        }
        let set = Self {
            data,
            sentinels,
            _dir: dir,
        };
        assert!(
            wait_for(Duration::from_secs(30), || set.sentinels_agree(primary)),
            "sentinels did not discover the primary {primary}, its replica and each other"
        );
        set
    }

    /// Comma-separated `redis://127.0.0.1:<p>` of the three sentinels: the node's `--redis-url`
    /// in sentinel mode.
    pub fn sentinel_urls(&self) -> String {
        urls(&self.sentinel_ports())
    }

    /// The sentinels' ports.
    pub fn sentinel_ports(&self) -> Vec<u16> {
        self.sentinels.iter().map(|s| s.port).collect()
    }

    /// The ports of the two data servers (primary or replica, whichever they are now).
    pub fn data_ports(&self) -> Vec<u16> {
        self.data.iter().map(|d| d.port).collect()
    }

    /// The primary as the first live sentinel reports it (`SENTINEL get-master-addr-by-name`).
    ///
    /// # Panics
    /// When no sentinel answers.
    pub fn primary_port(&self) -> u16 {
        self.sentinels
            .iter()
            .filter(|s| s.guard.is_some())
            .find_map(|s| master_of(s.port))
            .expect("a sentinel reports the primary")
    }

    /// Kills the data server on `port` with SIGKILL.
    pub fn kill(&mut self, port: u16) {
        if let Some(d) = self.data.iter_mut().find(|d| d.port == port)
            && let Some(mut g) = d.guard.take()
        {
            g.kill();
        }
    }

    /// Restarts the killed data server on `port`, empty, as a primary: the sentinels turn it
    /// into a replica of the current primary.
    pub fn restart(&mut self, port: u16) {
        let d = self
            .data
            .iter_mut()
            .find(|d| d.port == port)
            .unwrap_or_else(|| panic!("port {port} is not a data server"));
        d.guard = Some(spawn_data(d.port, &d.dir, None));
        assert!(
            wait_for(Duration::from_secs(10), || raw_command(port, &["PING"])
                .is_ok_and(|r| r == "+PONG")),
            "redis-server on {port} did not restart"
        );
    }

    /// Waits until every sentinel names a primary other than `old`, and that server says it is
    /// a primary; the new primary's port.
    ///
    /// # Panics
    /// When that does not happen within `timeout`.
    pub fn wait_for_failover(&self, old: u16, timeout: Duration) -> u16 {
        let mut new = None;
        let done = wait_for(timeout, || {
            let masters: Vec<Option<u16>> =
                self.sentinels.iter().map(|s| master_of(s.port)).collect();
            new = masters[0].filter(|&m| m != old);
            new.is_some()
                && masters.iter().all(|m| *m == new)
                && raw_command(new.unwrap_or(0), &["INFO", "replication"])
                    .is_ok_and(|i| i.contains("role:master"))
        });
        assert!(
            done,
            "the sentinels did not fail over from {old} within {timeout:?}"
        );
        new.expect("set when done")
    }

    /// Sends one command to the server on `port` (data server or sentinel).
    ///
    /// # Panics
    /// When it cannot be reached.
    pub fn cmd(&self, port: u16, args: &[&str]) -> String {
        raw_command(port, args)
            .unwrap_or_else(|e| panic!("redis command {args:?} on port {port} failed: {e}"))
    }

    /// Whether every sentinel names `primary` and knows one replica and two other sentinels.
    fn sentinels_agree(&self, primary: u16) -> bool {
        self.sentinels.iter().all(|s| {
            master_of(s.port) == Some(primary)
                && raw_command(s.port, &["INFO", "sentinel"])
                    .is_ok_and(|i| i.contains("slaves=1") && i.contains("sentinels=3"))
        })
    }
}

/// The port of the primary that the sentinel on `port` names.
fn master_of(port: u16) -> Option<u16> {
    let out = redis_cli(
        port,
        &["SENTINEL", "get-master-addr-by-name", SENTINEL_MASTER],
    );
    out.lines().nth(1)?.trim().parse().ok()
}

fn spawn_data(port: u16, dir: &Path, replica_of: Option<u16>) -> ChildGuard {
    let mut cmd = Command::new(redis_server_bin());
    cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir)
        .args(["--daemonize", "no", "--loglevel", "warning"]);
    if let Some(p) = replica_of {
        cmd.args(["--replicaof", "127.0.0.1", &p.to_string()]);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    ChildGuard::spawn(format!("redis-server:{port}"), &mut cmd)
}

fn spawn_sentinel(port: u16, dir: &Path, primary: u16) -> ChildGuard {
    let conf = dir.join("sentinel.conf");
    let text = format!(
        "port {port}\nbind 127.0.0.1\ndir {dir}\n\
         sentinel monitor {m} 127.0.0.1 {primary} 2\n\
         sentinel down-after-milliseconds {m} {SENTINEL_DOWN_AFTER_MS}\n\
         sentinel failover-timeout {m} 4000\n\
         sentinel parallel-syncs {m} 1\n",
        dir = dir.display(),
        m = SENTINEL_MASTER,
    );
    std::fs::write(&conf, text).expect("write sentinel.conf");
    let mut cmd = Command::new(redis_sentinel_bin());
    cmd.arg(&conf)
        .args(["--daemonize", "no", "--loglevel", "warning"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    ChildGuard::spawn(format!("redis-sentinel:{port}"), &mut cmd)
}

/// The redis-sentinel binary: `$REDIS_SENTINEL_BIN`, else `redis-sentinel` on `PATH`.
///
/// # Panics
/// When it cannot be found, saying how to install it.
pub fn redis_sentinel_bin() -> PathBuf {
    find_bin("REDIS_SENTINEL_BIN", "redis-sentinel", "redis-sentinel")
}
