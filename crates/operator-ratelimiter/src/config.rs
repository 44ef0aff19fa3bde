//! Configuration of the subject and thresholds of its invariants.

use std::time::Duration;

use crate::error::{Error, Result};

/// Where the rate limiter is and how to observe it. Build with [`Default`] (three nodes on
/// `127.0.0.1:8001-8003`, Redis on 6379), adjust fields, then [`validate`](Self::validate).
/// Its `Debug` form redacts the node token and the Redis password.
#[derive(Clone, PartialEq)]
pub struct RateLimiterConfig {
    /// Redis URL (`redis://[:password@]host:port[/db]` or `rediss://`); in `cluster` mode a
    /// comma-separated list of seed URLs, in `sentinel` mode the sentinels' URLs.
    pub redis_url: String,
    /// How the nodes use Redis: one server, a Redis Cluster, or a primary found by sentinels.
    pub redis_mode: RedisMode,
    /// `sentinel` mode: the name of the primary set the sentinels watch.
    pub sentinel_master: Option<String>,
    /// `cluster` and `sentinel` modes: how long a failover seen by the monitor (a slot range or
    /// the primary set served by another instance than at the observation before) is reported.
    pub failover_memory: Duration,
    /// Base URLs of the nodes (`http://host:port`).
    pub nodes: Vec<String>,
    /// Key prefix the nodes use in Redis.
    pub key_prefix: String,
    /// Bound on each Redis step of an observation (connect and PING; then the reads).
    pub redis_timeout: Duration,
    /// Bound on each HTTP request to a node.
    pub node_timeout: Duration,
    /// Keys of the database walked per observation by the incremental TTL scan (`SCAN` calls of
    /// `scan_count` each, then `PTTL` of the matches). A keyspace larger than this is covered over
    /// several observations, at the same small cost per tick.
    pub scan_budget: usize,
    /// `COUNT` hint of each `SCAN` call.
    pub scan_count: usize,
    /// TTL given by `repair_stuck_keys` to keys it cannot classify.
    pub repair_ttl: Duration,
    /// The nodes' admin token, sent as `Authorization: Bearer <token>` on every `/v1/*` request
    /// to a node (nodes started with `--admin-token` refuse their management endpoints without
    /// it). Never printed: `Debug` shows `***`, and it goes into no ticket or context.
    pub node_token: Option<String>,
}

impl std::fmt::Debug for RateLimiterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiterConfig")
            .field("redis_url", &redact_url(&self.redis_url))
            .field("redis_mode", &self.redis_mode)
            .field("sentinel_master", &self.sentinel_master)
            .field("failover_memory", &self.failover_memory)
            .field("nodes", &self.nodes)
            .field("key_prefix", &self.key_prefix)
            .field("redis_timeout", &self.redis_timeout)
            .field("node_timeout", &self.node_timeout)
            .field("scan_budget", &self.scan_budget)
            .field("scan_count", &self.scan_count)
            .field("repair_ttl", &self.repair_ttl)
            .field("node_token", &self.node_token.as_ref().map(|_| "***"))
            .finish()
    }
}

impl Default for RateLimiterConfig {
    fn default() -> Self {
        Self {
            redis_url: "redis://127.0.0.1:6379".into(),
            redis_mode: RedisMode::Single,
            sentinel_master: None,
            failover_memory: Duration::from_secs(60),
            nodes: (8001..=8003)
                .map(|p| format!("http://127.0.0.1:{p}"))
                .collect(),
            key_prefix: "ratelimit:".into(),
            redis_timeout: Duration::from_millis(300),
            node_timeout: Duration::from_millis(300),
            scan_budget: 5_000,
            scan_count: 1_000,
            repair_ttl: Duration::from_secs(24 * 3600),
            node_token: None,
        }
    }
}

impl RateLimiterConfig {
    /// Checks every setting.
    ///
    /// # Errors
    /// [`Error::Config`] naming the bad setting.
    pub fn validate(&self) -> Result<()> {
        let urls = self.redis_urls();
        if urls.is_empty() {
            return Err(Error::Config(
                "redis url: at least one URL is needed".into(),
            ));
        }
        for url in &urls {
            redis::Client::open(*url)
                .map_err(|e| Error::Config(format!("redis url {:?}: {e}", redact_url(url))))?;
        }
        match self.redis_mode {
            RedisMode::Single if urls.len() > 1 => {
                return Err(Error::Config(
                    "redis url: a list of URLs needs --redis-mode cluster or sentinel".into(),
                ));
            }
            RedisMode::Sentinel
                if self
                    .sentinel_master
                    .as_deref()
                    .is_none_or(|m| m.trim().is_empty()) =>
            {
                return Err(Error::Config(
                    "sentinel master: sentinel mode needs the name of the primary set".into(),
                ));
            }
            _ => {}
        }
        if self.nodes.is_empty() {
            return Err(Error::Config(
                "nodes: at least one node URL is needed".into(),
            ));
        }
        for node in &self.nodes {
            let url = reqwest::Url::parse(node)
                .map_err(|e| Error::Config(format!("node url {node:?}: {e}")))?;
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                return Err(Error::Config(format!(
                    "node url {node:?}: expected http://host:port"
                )));
            }
        }
        ratelimiter_schema::keys::validate_prefix(&self.key_prefix)
            .map_err(|e| Error::Config(format!("key prefix: {e}")))?;
        for (name, d) in [
            ("redis timeout", self.redis_timeout),
            ("node timeout", self.node_timeout),
        ] {
            if d.is_zero() {
                return Err(Error::Config(format!("{name} must be greater than zero")));
            }
        }
        if let Some(token) = &self.node_token
            && (token.is_empty() || token.chars().any(|c| c.is_control() || c == ' '))
        {
            return Err(Error::Config(
                "node token: must be non-empty, without spaces or control characters".into(),
            ));
        }
        if self.scan_budget == 0 || self.scan_count == 0 {
            return Err(Error::Config(
                "scan budget and scan count must be greater than zero".into(),
            ));
        }
        Ok(())
    }
}

impl RateLimiterConfig {
    /// The Redis URLs: `redis_url` split at commas, blanks dropped.
    pub fn redis_urls(&self) -> Vec<&str> {
        self.redis_url
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .collect()
    }

    /// The Redis URLs, passwords redacted, joined by commas: for messages.
    pub fn redis_url_redacted(&self) -> String {
        self.redis_urls()
            .into_iter()
            .map(redact_url)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// How the rate limiter uses Redis; `single`, `cluster` or `sentinel` on the command line, as
/// the node's `--redis-mode`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    strum::Display,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum RedisMode {
    /// One Redis server.
    #[default]
    Single,
    /// A Redis Cluster: shards of a primary and its replicas, keys spread by slot.
    Cluster,
    /// A primary and its replicas, failed over by Redis Sentinel.
    Sentinel,
}

/// Thresholds of the invariants. Defaults suit three nodes and one Redis on a LAN.
#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    /// `redis_healthy`: a PING slower than this is a warning.
    pub slow_ping: Duration,
    /// `redis_healthy`: used memory above this share of `maxmemory` is a warning.
    pub memory_ratio: f64,
    /// `high_latency`: a node's decision p99 above this.
    pub p99: Duration,
    /// `counter_drift`: a node clock further than this from Redis `TIME`.
    pub clock_skew: Duration,
    /// `config_loaded`, `counter_drift`: how long a policy change may take to reach every node
    /// before a node still serving other policies counts as stale.
    pub policy_propagation: Duration,
    /// `over_admission`: the share of a node's decisions (since the last observation) taken by
    /// its failure mode above which shared limiting counts as lost. One decision that missed the
    /// Redis timeout on a busy machine is not an outage; a dead Redis is 100 %.
    pub failure_ratio: f64,
    /// How many stuck or over-admitted keys a violation names.
    pub sample: usize,
    /// `shard_balance`: a primary holding more than this many times its fair share of the keys
    /// (the keys of all primaries over their number).
    pub shard_skew: f64,
    /// `shard_balance`: below this many keys in the whole cluster, shares are not compared.
    pub shard_min_keys: u64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            slow_ping: Duration::from_millis(50),
            memory_ratio: 0.9,
            p99: Duration::from_millis(25),
            clock_skew: Duration::from_millis(500),
            policy_propagation: Duration::from_secs(2),
            failure_ratio: 0.01,
            sample: 5,
            shard_skew: 2.0,
            shard_min_keys: 1_000,
        }
    }
}

/// `redis://:secret@host` -> `redis://:***@host`, for messages and evidence.
pub fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_settings_are_named() {
        RateLimiterConfig::default().validate().unwrap();
        let bad = |f: fn(&mut RateLimiterConfig), word: &str| {
            let mut c = RateLimiterConfig::default();
            f(&mut c);
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains(word), "{e}");
        };
        bad(|c| c.redis_url = "http://x".into(), "redis url");
        bad(
            |c| c.redis_url = "redis://a:1,redis://b:2".into(),
            "redis-mode",
        );
        bad(|c| c.redis_mode = RedisMode::Sentinel, "sentinel master");
        bad(
            |c| {
                c.redis_mode = RedisMode::Cluster;
                c.redis_url = "redis://a:1,http://b".into();
            },
            "redis url",
        );
        bad(|c| c.nodes = vec![], "nodes");
        bad(|c| c.nodes = vec!["ftp://x".into()], "node url");
        bad(|c| c.nodes = vec!["127.0.0.1:8001".into()], "node url");
        bad(|c| c.key_prefix = "a{b".into(), "key prefix");
        bad(|c| c.redis_timeout = Duration::ZERO, "redis timeout");
        bad(|c| c.node_token = Some(String::new()), "node token");
        bad(|c| c.node_token = Some("a\nb".into()), "node token");
    }

    #[test]
    fn debug_never_shows_the_node_token_or_the_redis_password() {
        let c = RateLimiterConfig {
            redis_url: "redis://:hunter2@h:6379".into(),
            node_token: Some("s3cret-token".into()),
            ..RateLimiterConfig::default()
        };
        let shown = format!("{c:?} {c:#?}");
        assert!(
            !shown.contains("s3cret-token") && !shown.contains("hunter2"),
            "{shown}"
        );
        assert!(shown.contains("node_token: Some(\"***\")"), "{shown}");
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("redis://:hunter2@h:6379/0"),
            "redis://:***@h:6379/0"
        );
        assert_eq!(redact_url("rediss://user:pw@h"), "rediss://user:***@h");
        assert_eq!(redact_url("redis://h:6379"), "redis://h:6379");
    }
}
