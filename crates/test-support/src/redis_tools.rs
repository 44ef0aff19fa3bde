//! The pieces of the Redis Cluster helpers that are not the cluster itself: its ports
//! ([`ClusterPorts`]), `CLUSTER NODES` parsing ([`parse_nodes`]), and `redis-cli`.

use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Members of a test cluster: 3 primaries, each with one replica.
pub const CLUSTER_MEMBERS: usize = 6;

/// `cluster-node-timeout` of the test cluster, in milliseconds: a primary unreachable for this
/// long is failed over by its replica.
pub const CLUSTER_NODE_TIMEOUT_MS: u64 = 2000;

/// Six consecutive loopback ports whose cluster-bus ports (+10000) were also free a moment ago:
/// where a [`RedisCluster`](crate::RedisCluster) will listen, picked before it starts (a test may start a node
/// against a cluster that is not up yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClusterPorts {
    /// The first port; the members listen on `base .. base + 6`.
    pub base: u16,
}

impl ClusterPorts {
    /// Picks six consecutive free ports below the usual ephemeral range (15000–22000, bus ports
    /// 25000–32000), so that `127.0.0.1:0` listeners of other tests do not land on them.
    ///
    /// # Panics
    /// When no such range is found after many tries.
    pub fn pick() -> Self {
        let mut seed = std::process::id() as u64 ^ nanos();
        for _ in 0..500 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let base = 15000 + u16::try_from((seed >> 33) % 7000).expect("fits");
            if (0..CLUSTER_MEMBERS as u16)
                .all(|i| port_free(base + i) && port_free(base + i + 10000))
            {
                return Self { base };
            }
        }
        panic!("no 6 consecutive free ports (with free +10000 bus ports) in 15000-22000");
    }

    /// The six ports.
    pub fn all(self) -> Vec<u16> {
        (0..CLUSTER_MEMBERS as u16).map(|i| self.base + i).collect()
    }

    /// `redis://127.0.0.1:<p>` for each port, comma-separated: the node's `--redis-url` in
    /// cluster mode.
    pub fn seed_urls(self) -> String {
        urls(&self.all())
    }
}

/// One line of `CLUSTER NODES`, the parts tests need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterNodeLine {
    /// Its client port.
    pub port: u16,
    /// Whether it is a primary (`master` flag).
    pub primary: bool,
    /// Whether it is marked `fail` (or `fail?`).
    pub failed: bool,
    /// The slot ranges it serves (inclusive).
    pub slots: Vec<(u16, u16)>,
}

/// Parses `CLUSTER NODES` output (`<id> <ip:port@bus> <flags> <primary> <ping> <pong> <epoch>
/// <link> <slot>...`); importing/migrating markers (`[...]`) are skipped.
pub fn parse_nodes(text: &str) -> Vec<ClusterNodeLine> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 8 {
                return None;
            }
            let addr = f[1].split('@').next()?;
            let port = addr.rsplit(':').next()?.parse().ok()?;
            let flags = f[2];
            let slots = f[8..]
                .iter()
                .filter(|s| !s.starts_with('['))
                .filter_map(|s| match s.split_once('-') {
                    Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
                    None => s.parse().ok().map(|x| (x, x)),
                })
                .collect();
            Some(ClusterNodeLine {
                port,
                primary: flags.contains("master"),
                failed: flags.contains("fail"),
                slots,
            })
        })
        .collect()
}

/// `redis://127.0.0.1:<p>` for each port, comma-separated.
pub fn urls(ports: &[u16]) -> String {
    ports
        .iter()
        .map(|p| format!("redis://127.0.0.1:{p}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Runs `redis-cli -p <port> <args>`; its stdout.
///
/// # Panics
/// When `redis-cli` cannot run.
pub fn redis_cli(port: u16, args: &[&str]) -> String {
    let out = Command::new(redis_cli_bin())
        .args(["-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run redis-cli");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The redis-cli binary: `$REDIS_CLI_BIN`, else `redis-cli` on `PATH`.
///
/// # Panics
/// When it cannot be found, saying how to install it.
pub fn redis_cli_bin() -> PathBuf {
    find_bin("REDIS_CLI_BIN", "redis-cli", "redis-tools")
}

/// `$env_var`, else `name` on `PATH`.
///
/// # Panics
/// When it cannot be found, naming the Debian package to install.
pub(crate) fn find_bin(env_var: &str, name: &str, package: &str) -> PathBuf {
    if let Some(bin) = std::env::var_os(env_var) {
        return PathBuf::from(bin);
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{name} is not on PATH: these tests need it. Install it with \
                 `sudo apt-get install -y {package}` (Debian/Ubuntu), or set {env_var}"
            )
        })
}

fn port_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

fn nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cluster_nodes_lines() {
        let text = "a 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460\n\
                    b 127.0.0.1:7003@17003 slave a 0 0 1 connected\n\
                    c 127.0.0.1:7001@17001 master,fail - 0 0 2 connected 5461-10922 12000 [5-<-x]\n";
        let nodes = parse_nodes(text);
        assert_eq!(nodes.len(), 3);
        assert_eq!(nodes[0].port, 7000);
        assert!(nodes[0].primary && !nodes[0].failed);
        assert_eq!(nodes[0].slots, vec![(0, 5460)]);
        assert!(!nodes[1].primary && nodes[1].slots.is_empty());
        assert!(nodes[2].failed);
        assert_eq!(nodes[2].slots, vec![(5461, 10922), (12000, 12000)]);
    }
}
