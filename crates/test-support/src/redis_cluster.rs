//! A real Redis Cluster for tests: 3 primaries and 3 replicas of `redis-server` on six
//! consecutive loopback ports ([`RedisCluster`]), created with `redis-cli --cluster create`, with
//! a short `cluster-node-timeout` so that a killed primary is replaced within seconds, and
//! `cluster-require-full-coverage no` so that the other shards keep serving meanwhile.
//!
//! Every member is killed when the cluster is dropped, including during a panic.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::process::ChildGuard;
use crate::redis::redis_server_bin;
pub use crate::redis_tools::{
    CLUSTER_MEMBERS, CLUSTER_NODE_TIMEOUT_MS, ClusterNodeLine, ClusterPorts, parse_nodes,
    redis_cli, redis_cli_bin, urls,
};
use crate::resp::raw_command;
use crate::wait::wait_for;

/// One `redis-server` of the cluster.
#[derive(Debug)]
struct Member {
    port: u16,
    dir: PathBuf,
    guard: Option<ChildGuard>,
}

/// A real Redis Cluster of six `redis-server` processes (3 primaries + 3 replicas,
/// `cluster-node-timeout 2000`, `cluster-replica-validity-factor 0`,
/// `cluster-require-full-coverage no`, no persistence), each in its
/// own temporary directory; killed when dropped.
#[derive(Debug)]
pub struct RedisCluster {
    ports: ClusterPorts,
    members: Vec<Member>,
    _dir: tempfile::TempDir,
}

impl RedisCluster {
    /// Starts a cluster on freshly picked ports and waits until every member reports
    /// `cluster_state:ok`.
    ///
    /// # Panics
    /// When `redis-server` or `redis-cli` is missing (saying how to install them), or the cluster
    /// does not form (after 3 attempts on new ports).
    pub fn start() -> Self {
        for attempt in 0..3 {
            if let Some(cluster) = Self::try_start_on(ClusterPorts::pick()) {
                return cluster;
            }
            eprintln!("redis cluster did not form (attempt {attempt}); retrying on new ports");
        }
        panic!("redis cluster did not form after 3 attempts; see the output above");
    }

    /// Starts a cluster on `ports` (picked earlier with [`ClusterPorts::pick`]).
    ///
    /// # Panics
    /// As [`start`](Self::start), without retrying on other ports.
    pub fn start_on(ports: ClusterPorts) -> Self {
        Self::try_start_on(ports)
            .unwrap_or_else(|| panic!("redis cluster did not form on ports {:?}", ports.all()))
    }

    fn try_start_on(ports: ClusterPorts) -> Option<Self> {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut members: Vec<Member> = ports
            .all()
            .into_iter()
            .map(|port| {
                let mdir = dir.path().join(port.to_string());
                std::fs::create_dir_all(&mdir).expect("member directory");
                Member {
                    port,
                    dir: mdir,
                    guard: None,
                }
            })
            .collect();
        for m in &mut members {
            m.guard = Some(spawn_member(m.port, &m.dir));
        }
        let up = members.iter().all(|m| {
            wait_for(Duration::from_secs(10), || {
                raw_command(m.port, &["PING"]).is_ok_and(|r| r == "+PONG")
            })
        });
        if !up {
            return None;
        }
        let mut create = Command::new(redis_cli_bin());
        create.arg("--cluster").arg("create");
        for p in ports.all() {
            create.arg(format!("127.0.0.1:{p}"));
        }
        create.args(["--cluster-replicas", "1", "--cluster-yes"]);
        let out = create
            .stdin(Stdio::null())
            .output()
            .expect("run redis-cli --cluster create");
        if !out.status.success() {
            eprintln!(
                "redis-cli --cluster create failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            return None;
        }
        let cluster = Self {
            ports,
            members,
            _dir: dir,
        };
        cluster.wait_ok(Duration::from_secs(30)).then_some(cluster)
    }

    /// The six ports (in order; which of them are primaries changes with failovers).
    pub fn ports(&self) -> ClusterPorts {
        self.ports
    }

    /// Comma-separated seed URLs of every member: the node's `--redis-url` in cluster mode.
    pub fn seed_urls(&self) -> String {
        self.ports.seed_urls()
    }

    /// Sends one command to the member on `port` over a raw connection; the first line of the
    /// reply, or the content of a bulk string (see [`raw_command`]).
    ///
    /// # Panics
    /// When the member cannot be reached.
    pub fn cmd(&self, port: u16, args: &[&str]) -> String {
        raw_command(port, args)
            .unwrap_or_else(|e| panic!("redis command {args:?} on port {port} failed: {e}"))
    }

    /// Runs `redis-cli -p <port> <args>` and returns its stdout: one line per element of an
    /// array reply (for `KEYS`, `CLUSTER GETKEYSINSLOT`, `TTL` of many keys...).
    ///
    /// # Panics
    /// When `redis-cli` cannot run.
    pub fn cli(&self, port: u16, args: &[&str]) -> String {
        redis_cli(port, args)
    }

    /// The ports of members that are running.
    pub fn live_ports(&self) -> Vec<u16> {
        self.members
            .iter()
            .filter(|m| m.guard.is_some())
            .map(|m| m.port)
            .collect()
    }

    /// The slot of `key` (`CLUSTER KEYSLOT`).
    pub fn slot_of(&self, key: &str) -> u16 {
        let port = self.any_live();
        let reply = self.cmd(port, &["CLUSTER", "KEYSLOT", key]);
        reply
            .trim_start_matches(':')
            .parse()
            .unwrap_or_else(|_| panic!("CLUSTER KEYSLOT {key}: {reply}"))
    }

    /// The primaries as every live member sees them: `(port, slot ranges)`, from `CLUSTER
    /// NODES` of one live member, sorted by port.
    pub fn primaries(&self) -> Vec<(u16, Vec<(u16, u16)>)> {
        let port = self.any_live();
        let nodes = self.cmd(port, &["CLUSTER", "NODES"]);
        let mut out: Vec<(u16, Vec<(u16, u16)>)> = parse_nodes(&nodes)
            .into_iter()
            .filter(|n| n.primary && !n.failed && !n.slots.is_empty())
            .map(|n| (n.port, n.slots))
            .collect();
        out.sort_unstable();
        out
    }

    /// The port of the primary serving `slot`.
    ///
    /// # Panics
    /// When no live primary serves it.
    pub fn primary_of_slot(&self, slot: u16) -> u16 {
        self.primaries()
            .into_iter()
            .find(|(_, ranges)| ranges.iter().any(|&(a, b)| a <= slot && slot <= b))
            .map(|(p, _)| p)
            .unwrap_or_else(|| panic!("no primary serves slot {slot}"))
    }

    /// The port of the primary owning `key`'s slot.
    pub fn primary_of_key(&self, key: &str) -> u16 {
        self.primary_of_slot(self.slot_of(key))
    }

    /// Kills the member on `port` with SIGKILL, as a crash would.
    pub fn kill(&mut self, port: u16) {
        if let Some(m) = self.members.iter_mut().find(|m| m.port == port)
            && let Some(mut g) = m.guard.take()
        {
            g.kill();
        }
    }

    /// Sends `signal` to the member on `port` (SIGSTOP freezes it, SIGCONT resumes it).
    pub fn signal(&self, port: u16, signal: i32) {
        if let Some(g) = self
            .members
            .iter()
            .find(|m| m.port == port)
            .and_then(|m| m.guard.as_ref())
        {
            g.signal(signal);
        }
    }

    /// Restarts the killed member on `port` with its `nodes.conf`: it rejoins the cluster under
    /// its old identity (as a replica of whoever took over its slots) with an empty dataset.
    ///
    /// # Panics
    /// When it does not answer PING within 10 seconds.
    pub fn restart(&mut self, port: u16) {
        let m = self
            .members
            .iter_mut()
            .find(|m| m.port == port)
            .unwrap_or_else(|| panic!("port {port} is not a member"));
        if let Some(mut g) = m.guard.take() {
            g.kill();
        }
        m.guard = Some(spawn_member(m.port, &m.dir));
        assert!(
            wait_for(Duration::from_secs(10), || {
                raw_command(port, &["PING"]).is_ok_and(|r| r == "+PONG")
            }),
            "cluster member {port} did not restart"
        );
    }

    /// Waits until the primary of `slot` is a live member other than `old` and every live
    /// member reports `cluster_state:ok`; the new primary's port.
    ///
    /// # Panics
    /// When that does not happen within `timeout`.
    pub fn wait_for_failover(&self, slot: u16, old: u16, timeout: Duration) -> u16 {
        let live = self.live_ports();
        let mut new = None;
        let done = wait_for(timeout, || {
            let owner = live.iter().find_map(|&p| {
                let nodes = raw_command(p, &["CLUSTER", "NODES"]).ok()?;
                parse_nodes(&nodes)
                    .into_iter()
                    .find(|n| {
                        n.primary
                            && !n.failed
                            && n.slots.iter().any(|&(a, b)| a <= slot && slot <= b)
                    })
                    .map(|n| n.port)
            });
            new = owner.filter(|&o| o != old && live.contains(&o));
            new.is_some() && self.all_ok()
        });
        assert!(
            done,
            "slot {slot} was not failed over from {old} within {timeout:?}"
        );
        new.expect("set when done")
    }

    /// Waits until every live member reports `cluster_state:ok`; whether they did within
    /// `timeout`.
    pub fn wait_ok(&self, timeout: Duration) -> bool {
        wait_for(timeout, || self.all_ok())
    }

    /// Whether every live member reports `cluster_state:ok` and knows all 16384 slots.
    fn all_ok(&self) -> bool {
        self.live_ports().iter().all(|&p| {
            raw_command(p, &["CLUSTER", "INFO"]).is_ok_and(|info| {
                info.contains("cluster_state:ok") && info.contains("cluster_slots_ok:16384")
            })
        })
    }

    /// Moves `slot` with its keys from the primary on `from` to the primary on `to`, the way
    /// `redis-cli --cluster reshard` does: `SETSLOT IMPORTING`/`MIGRATING`, `MIGRATE` of the
    /// keys in batches of `batch` (clients see `ASK` meanwhile), then `SETSLOT NODE` on every
    /// primary. `between_batches` runs after each batch (a test may pause there to keep the slot
    /// migrating under load).
    ///
    /// # Panics
    /// When a step fails.
    pub fn migrate_slot(
        &self,
        slot: u16,
        from: u16,
        to: u16,
        batch: usize,
        mut between_batches: impl FnMut(),
    ) {
        let id = |p: u16| self.cmd(p, &["CLUSTER", "MYID"]);
        let (from_id, to_id) = (id(from), id(to));
        let s = slot.to_string();
        let ok = |r: String, what: &str| assert!(r.starts_with("+OK"), "{what}: {r}");
        ok(
            self.cmd(to, &["CLUSTER", "SETSLOT", &s, "IMPORTING", &from_id]),
            "importing",
        );
        ok(
            self.cmd(from, &["CLUSTER", "SETSLOT", &s, "MIGRATING", &to_id]),
            "migrating",
        );
        loop {
            let keys = self.cli(from, &["CLUSTER", "GETKEYSINSLOT", &s, &batch.to_string()]);
            let keys: Vec<&str> = keys.lines().filter(|l| !l.is_empty()).collect();
            if keys.is_empty() {
                break;
            }
            let to_s = to.to_string();
            let mut args = vec![
                "MIGRATE",
                "127.0.0.1",
                &to_s,
                "",
                "0",
                "5000",
                "REPLACE",
                "KEYS",
            ];
            args.extend(keys.iter().copied());
            let reply = self.cli(from, &args);
            assert!(
                reply.trim() == "OK" || reply.trim() == "NOKEY",
                "MIGRATE: {reply}"
            );
            between_batches();
        }
        // The target first, then the source, then everyone else (as redis-cli does), so the
        // slot is never owned by nobody.
        let mut order = vec![to, from];
        order.extend(
            self.primaries()
                .into_iter()
                .map(|(p, _)| p)
                .filter(|p| *p != to && *p != from),
        );
        for p in order {
            ok(
                self.cmd(p, &["CLUSTER", "SETSLOT", &s, "NODE", &to_id]),
                "setslot node",
            );
        }
    }

    fn any_live(&self) -> u16 {
        *self
            .live_ports()
            .first()
            .expect("at least one cluster member is running")
    }
}

fn spawn_member(port: u16, dir: &Path) -> ChildGuard {
    let mut cmd = Command::new(redis_server_bin());
    cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args([
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
        ])
        .args([
            "--cluster-node-timeout",
            &CLUSTER_NODE_TIMEOUT_MS.to_string(),
        ])
        .args(["--cluster-replica-validity-factor", "0"])
        // Healthy shards keep serving while one is failed over (the default, `yes`, makes every
        // member answer CLUSTERDOWN until every slot is covered again).
        .args(["--cluster-require-full-coverage", "no"])
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir)
        .args(["--daemonize", "no", "--loglevel", "warning"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    ChildGuard::spawn(format!("redis-cluster:{port}"), &mut cmd)
}
