//! The local stack's Redis Sentinel set (`operator stack up --redis sentinel`): a primary
//! (`redis-1`, on `redis_port`) and its replica (`redis-2`, the next port), both plain
//! `redis-server` members, watched by three sentinels (`sentinel-1..3`, `redis-server
//! sentinel.conf --sentinel` on consecutive ports from `sentinel_port`, 26379 by default) with
//! quorum 2. Failover is made fast and certain on a laptop: `down-after-milliseconds 2000` and
//! `failover-timeout 4000`. The primary set is called [`SENTINEL_MASTER`] (`ratelimit`) unless
//! configured otherwise.
//!
//! Each sentinel keeps the `sentinel.conf` written at `up` in its own directory: it rewrites it
//! with what it learns (the current primary, the replicas, the other sentinels), so a restarted
//! sentinel or a restarted old primary (turned into a replica by the sentinels) rejoins the set
//! as it is now.

use std::path::Path;
use std::time::Duration;

use tokio::time::Instant;

use crate::error::{Error, Result};
use crate::local::process::redis_server_args;
use crate::ports;
use crate::probe::RedisProbe;

/// The data members of the set: a primary and its replica.
pub const DATA_MEMBERS: u16 = 2;
/// The sentinels watching the set.
pub const SENTINELS: u16 = 3;
/// The first sentinel's port by default.
pub const SENTINEL_PORT: u16 = 26_379;
/// The name of the primary set by default (the nodes' `--sentinel-master`).
pub const SENTINEL_MASTER: &str = "ratelimit";
/// `down-after-milliseconds`: a primary unreachable this long is subjectively down.
pub const SENTINEL_DOWN_AFTER_MS: u64 = 2_000;
/// `failover-timeout`, ms: short, so that a failed attempt is retried soon.
pub const SENTINEL_FAILOVER_TIMEOUT_MS: u64 = 4_000;
/// Sentinels that must agree that the primary is down.
pub const SENTINEL_QUORUM: u16 = 2;
/// The name of a sentinel's configuration file, in its working directory.
pub const SENTINEL_CONF: &str = "sentinel.conf";

/// `len` consecutive ports from `base` (fewer when they would pass 65535).
pub fn run_of(base: u16, len: u16) -> Vec<u16> {
    (0..len).filter_map(|i| base.checked_add(i)).collect()
}

/// The first base at or after `base` whose `len` consecutive ports are free now and not in
/// `avoid`.
pub fn free_run_from(base: u16, len: u16, avoid: &[u16]) -> Option<u16> {
    (base..=u16::MAX.saturating_sub(len)).take(2_000).find(|b| {
        run_of(*b, len)
            .iter()
            .all(|p| !avoid.contains(p) && ports::is_free(*p))
    })
}

/// The arguments of a data member on `port`, a replica of the primary on `primary` when given.
pub(super) fn data_args(port: u16, primary: Option<u16>) -> Vec<String> {
    let mut args = redis_server_args(port);
    if let Some(p) = primary {
        args.extend(["--replicaof".into(), "127.0.0.1".into(), p.to_string()]);
    }
    args
}

/// The arguments of a sentinel, run from its own directory (where its `sentinel.conf` is).
pub(super) fn sentinel_args() -> Vec<String> {
    [SENTINEL_CONF, "--sentinel", "--daemonize", "no"]
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// The `sentinel.conf` of the sentinel on `port` watching `master` on `primary`.
pub(super) fn conf_text(port: u16, master: &str, primary: u16) -> String {
    format!(
        "port {port}\nbind 127.0.0.1\n\
         sentinel monitor {master} 127.0.0.1 {primary} {SENTINEL_QUORUM}\n\
         sentinel down-after-milliseconds {master} {SENTINEL_DOWN_AFTER_MS}\n\
         sentinel failover-timeout {master} {SENTINEL_FAILOVER_TIMEOUT_MS}\n\
         sentinel parallel-syncs {master} 1\n"
    )
}

/// Writes a fresh `sentinel.conf` into `dir` (created), replacing what an earlier stack left.
///
/// # Errors
/// [`Error::Io`] when the directory or the file cannot be written.
pub(super) fn write_conf(dir: &Path, port: u16, master: &str, primary: u16) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
    let file = dir.join(SENTINEL_CONF);
    std::fs::write(&file, conf_text(port, master, primary))
        .map_err(|e| Error::io(format!("write {}", file.display()), e))
}

/// The sentinels' URLs, comma-separated: the nodes' `--redis-url` in sentinel mode.
pub fn sentinel_urls(ports: &[u16]) -> String {
    crate::local::cluster::seed_urls(ports)
}

/// The address (`127.0.0.1:<port>`) of the primary the sentinel on `port` names.
pub async fn primary_of(port: u16, master: &str) -> Option<String> {
    let probe = RedisProbe::new(
        &format!("redis://127.0.0.1:{port}"),
        Duration::from_millis(500),
    )
    .ok()?;
    probe
        .query::<Option<(String, String)>>(
            redis::cmd("SENTINEL")
                .arg("get-master-addr-by-name")
                .arg(master),
        )
        .await
        .ok()
        .flatten()
        .map(|(h, p)| format!("{h}:{p}"))
}

/// `INFO replication` of the Redis on `addr` (`host:port`), empty when it does not answer.
pub async fn replication(addr: &str) -> String {
    let Ok(probe) = RedisProbe::new(&format!("redis://{addr}"), Duration::from_millis(500)) else {
        return String::new();
    };
    probe
        .query::<String>(redis::cmd("INFO").arg("replication"))
        .await
        .unwrap_or_default()
}

/// Waits until the replica on `replica` is in sync with its primary, then until every sentinel
/// on `sentinels` names the primary on `primary` and knows one replica and the other sentinels.
///
/// # Errors
/// [`Error::Config`] when that does not happen within `timeout`.
pub(super) async fn wait_set(
    primary: u16,
    replica: u16,
    sentinels: &[u16],
    master: &str,
    timeout: Duration,
) -> Result<()> {
    let start = Instant::now();
    let want = format!("127.0.0.1:{primary}");
    loop {
        let mut whole = replication(&format!("127.0.0.1:{replica}"))
            .await
            .contains("master_link_status:up");
        for s in sentinels {
            whole = whole
                && primary_of(*s, master).await.as_deref() == Some(want.as_str())
                && sentinel_info(*s).await.is_some_and(|i| {
                    i.contains("slaves=1") && i.contains(&format!("sentinels={}", sentinels.len()))
                });
        }
        if whole {
            return Ok(());
        }
        if start.elapsed() > timeout {
            return Err(Error::Config(format!(
                "the Redis Sentinel set (primary {primary}, replica {replica}, sentinels {sentinels:?}) \
                 did not come together within {} s: replica in sync, every sentinel naming the primary",
                timeout.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn sentinel_info(port: u16) -> Option<String> {
    let probe = RedisProbe::new(
        &format!("redis://127.0.0.1:{port}"),
        Duration::from_millis(500),
    )
    .ok()?;
    probe
        .query::<String>(redis::cmd("INFO").arg("sentinel"))
        .await
        .ok()
}

/// Checks a sentinel master name: one word of letters, digits, `-`, `_` or `.`, since it goes
/// into `sentinel.conf` lines and the nodes' argv.
///
/// # Errors
/// [`Error::Config`] naming the bad name.
pub(super) fn validate_master_name(name: &str) -> Result<()> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(Error::Config(format!(
            "sentinel master name {name:?}: use letters, digits, '-', '_' or '.'"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_set_is_a_primary_a_replica_and_three_fast_sentinels() {
        assert_eq!(run_of(6379, DATA_MEMBERS), [6379, 6380]);
        assert_eq!(run_of(SENTINEL_PORT, SENTINELS), [26379, 26380, 26381]);
        assert_eq!(run_of(65535, 3), [65535]);
        assert!(!data_args(6379, None).contains(&"--replicaof".to_owned()));
        assert!(
            data_args(6380, Some(6379))
                .join(" ")
                .ends_with("--replicaof 127.0.0.1 6379")
        );
        let conf = conf_text(26379, "ratelimit", 6379);
        for line in [
            "port 26379",
            "sentinel monitor ratelimit 127.0.0.1 6379 2",
            "sentinel down-after-milliseconds ratelimit 2000",
            "sentinel failover-timeout ratelimit 4000",
        ] {
            assert!(conf.lines().any(|l| l == line), "{line}: {conf}");
        }
        assert_eq!(
            sentinel_urls(&[26379, 26380]),
            "redis://127.0.0.1:26379,redis://127.0.0.1:26380"
        );
    }

    #[test]
    fn a_taken_port_moves_the_whole_run() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let taken = held.local_addr().unwrap().port();
        let base = taken.saturating_sub(1);
        let moved = free_run_from(base, 3, &[]).unwrap();
        assert!(moved > taken, "{moved} after {taken}");
        assert!(run_of(moved, 3).iter().all(|p| ports::is_free(*p)));
        let avoid = run_of(moved, 3);
        assert!(free_run_from(moved, 3, &avoid).unwrap() > moved + 2);
    }
}
