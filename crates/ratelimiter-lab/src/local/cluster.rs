//! The local stack's Redis Cluster (`operator stack up --redis cluster`): six `redis-server`
//! members on consecutive ports from `redis_port` (each also binding its port + 10000 for the
//! cluster bus), joined by `redis-cli --cluster create` into 3 primaries with a replica each.
//! Failover is made fast and certain on a laptop: `cluster-node-timeout 2000` and
//! `cluster-replica-validity-factor 0` (a freshly synced replica may take over);
//! `cluster-require-full-coverage no`, so the other shards keep answering meanwhile.

use std::path::Path;
use std::time::Duration;

use operator_ratelimiter::topology::{Role, parse_cluster_nodes};
use tokio::time::Instant;

use crate::error::{Error, Result};
use crate::local::process::redis_server_args;
use crate::ports;
use crate::probe::RedisProbe;

/// Members of the local cluster: 3 primaries and 3 replicas.
pub const CLUSTER_MEMBERS: u16 = 6;
/// `cluster-node-timeout`, ms: a primary unreachable this long is failed over.
pub const CLUSTER_NODE_TIMEOUT_MS: u64 = 2_000;
/// The cluster bus of a member listens on its port plus this.
pub const BUS_OFFSET: u16 = 10_000;

/// The members' ports, from `base`.
pub fn member_ports(base: u16) -> Vec<u16> {
    (0..CLUSTER_MEMBERS)
        .filter_map(|i| base.checked_add(i))
        .collect()
}

/// Whether the six ports from `base` and their bus ports are free now.
pub fn ports_free(base: u16) -> bool {
    let ports = member_ports(base);
    ports.len() == usize::from(CLUSTER_MEMBERS)
        && ports
            .iter()
            .all(|p| p.checked_add(BUS_OFFSET).is_some_and(ports::is_free) && ports::is_free(*p))
}

/// The first base at or after `base` (by steps of six, below the bus ports' reach) whose six
/// ports and bus ports are free and not in `avoid`.
pub fn free_base_from(base: u16, avoid: &[u16]) -> Option<u16> {
    let mut b = base;
    while b.checked_add(CLUSTER_MEMBERS + BUS_OFFSET).is_some() {
        if ports_free(b) && member_ports(b).iter().all(|p| !avoid.contains(p)) {
            return Some(b);
        }
        b += CLUSTER_MEMBERS;
    }
    None
}

/// The arguments of the member on `port` (run from its own working directory, where its
/// `nodes.conf` lives).
pub(super) fn member_args(port: u16) -> Vec<String> {
    let mut args = redis_server_args(port);
    args.extend(
        [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            &CLUSTER_NODE_TIMEOUT_MS.to_string(),
            "--cluster-replica-validity-factor",
            "0",
            // The healthy shards keep answering while one is failed over.
            "--cluster-require-full-coverage",
            "no",
        ]
        .into_iter()
        .map(str::to_owned),
    );
    args
}

/// The seed URLs of the members on `ports`, comma-separated: the nodes' `--redis-url` in
/// cluster mode.
pub fn seed_urls(ports: &[u16]) -> String {
    ports
        .iter()
        .map(|p| format!("redis://127.0.0.1:{p}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// `redis-cli` beside `redis-server`, else the one on `PATH`.
fn redis_cli(redis_server: &Path) -> std::path::PathBuf {
    redis_server
        .parent()
        .map(|d| d.join("redis-cli"))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| "redis-cli".into())
}

/// Joins the running members on `ports` into a cluster of 3 primaries with one replica each,
/// then waits until every member says `cluster_state:ok` with each primary replicated.
///
/// # Errors
/// [`Error::Config`] when `redis-cli` fails or the cluster is not whole within `timeout`.
pub(super) async fn create(redis_server: &Path, ports: &[u16], timeout: Duration) -> Result<()> {
    let cli = redis_cli(redis_server);
    let mut cmd = tokio::process::Command::new(&cli);
    cmd.arg("--cluster").arg("create");
    for p in ports {
        cmd.arg(format!("127.0.0.1:{p}"));
    }
    cmd.args(["--cluster-replicas", "1", "--cluster-yes"]);
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| {
            Error::Config(format!(
                "{} --cluster create: {e} (install redis-tools: apt-get install -y redis-tools)",
                cli.display()
            ))
        })?;
    if !out.status.success() {
        return Err(Error::Config(format!(
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    let start = Instant::now();
    loop {
        if whole(ports).await {
            return Ok(());
        }
        if start.elapsed() > timeout {
            return Err(Error::Config(format!(
                "the Redis Cluster on ports {ports:?} did not become whole (cluster_state ok, 3 replicas) within {} s",
                timeout.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every member says `cluster_state:ok`, and the cluster lists 3 replicas.
async fn whole(ports: &[u16]) -> bool {
    for p in ports {
        let Ok(probe) = RedisProbe::new(
            &format!("redis://127.0.0.1:{p}"),
            Duration::from_millis(500),
        ) else {
            return false;
        };
        let ok = probe
            .query::<String>(redis::cmd("CLUSTER").arg("INFO"))
            .await
            .is_ok_and(|i| i.contains("cluster_state:ok"));
        let replicas = probe
            .query::<String>(redis::cmd("CLUSTER").arg("NODES"))
            .await
            .map_or(0, |n| {
                parse_cluster_nodes(&n)
                    .iter()
                    .filter(|i| i.role == Role::Replica && !i.failed)
                    .count()
            });
        if !ok || replicas < 3 {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_six_consecutive_ports_with_fast_failover() {
        assert_eq!(member_ports(7000), [7000, 7001, 7002, 7003, 7004, 7005]);
        let args = member_args(7000).join(" ");
        for part in [
            "--port 7000",
            "--cluster-enabled yes",
            "--cluster-node-timeout 2000",
            "--cluster-replica-validity-factor 0",
        ] {
            assert!(args.contains(part), "{part}: {args}");
        }
        assert_eq!(
            seed_urls(&[7000, 7001]),
            "redis://127.0.0.1:7000,redis://127.0.0.1:7001"
        );
        assert!(member_ports(65533).len() < 6);
    }
}
