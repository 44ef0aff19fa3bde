//! `--subject ratelimit`: the rate limiter's flags, turned into its subject and checker.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use operator_ratelimiter::{
    ContextSources, RateLimiterChecker, RateLimiterConfig, RateLimiterSubject, RedisMode,
    Thresholds,
};

use crate::args::default_text;
use crate::args::subject::with_subject::{Profile, WithSubject};
use crate::exit::CliError;

/// Observe twice a second, so a dead Redis is reported within a second or two.
const PROFILE: Profile = Profile {
    interval: Duration::from_millis(500),
    observe_timeout: Duration::from_secs(2),
};

/// Connection to the rate limiter's Redis and nodes, and its thresholds.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Rate limiter (--subject ratelimit)")]
pub struct RateLimitArgs {
    /// Redis URL of the rate limiter (`redis://[:password@]host:port[/db]`, or `rediss://`); with
    /// `--redis-mode cluster` a comma-separated list of seed URLs (any members of the cluster),
    /// with `--redis-mode sentinel` the sentinels' URLs.
    #[arg(
        long,
        env = "OPERATOR_REDIS_URL",
        default_value = RateLimiterConfig::default().redis_url,
        value_name = "URL[,URL...]"
    )]
    pub redis_url: String,
    /// How the nodes use Redis, as their own `--redis-mode`: `single` (one server), `cluster`
    /// (a Redis Cluster: every primary and replica is observed, one entity per instance), or
    /// `sentinel` (a primary found by Redis Sentinel; needs `--sentinel-master`).
    #[arg(
        long,
        env = "OPERATOR_REDIS_MODE",
        value_enum,
        default_value_t = RedisModeArg::Single,
        value_name = "MODE"
    )]
    pub redis_mode: RedisModeArg,
    /// `--redis-mode sentinel`: the name of the primary set the sentinels watch (the nodes'
    /// `--sentinel-master`).
    #[arg(long, env = "OPERATOR_SENTINEL_MASTER", value_name = "NAME")]
    pub sentinel_master: Option<String>,
    /// `--redis-mode cluster|sentinel`: how long a failover stays reported (`failover_detected`)
    /// after the monitor saw it.
    #[arg(long, default_value = default_text::duration(RateLimiterConfig::default().failover_memory), value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub failover_memory: Duration,
    /// The nodes' base URLs, comma-separated.
    #[arg(
        long,
        env = "OPERATOR_NODES",
        value_delimiter = ',',
        default_value = default_text::list(&RateLimiterConfig::default().nodes),
        value_name = "URL,URL,..."
    )]
    pub nodes: Vec<String>,
    /// Redis key prefix of the rate limiter.
    #[arg(
        long,
        env = "OPERATOR_KEY_PREFIX",
        default_value = RateLimiterConfig::default().key_prefix,
        value_name = "PREFIX"
    )]
    pub key_prefix: String,
    /// Bound on each Redis step of an observation.
    #[arg(long, default_value = default_text::duration(RateLimiterConfig::default().redis_timeout), value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub redis_timeout: Duration,
    /// Bound on each request to a node.
    #[arg(long, default_value = default_text::duration(RateLimiterConfig::default().node_timeout), value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub node_timeout: Duration,
    /// `high_latency` fires when a node's decision p99 is above this.
    #[arg(long, default_value = default_text::duration(Thresholds::default().p99), value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub p99_threshold: Duration,
    /// `redis_healthy` warns when PING takes longer than this.
    #[arg(long, default_value = default_text::duration(Thresholds::default().slow_ping), value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub slow_ping_threshold: Duration,
    /// `counter_drift` fires when a node's clock is further than this from Redis TIME.
    #[arg(long, default_value = default_text::duration(Thresholds::default().clock_skew), value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub clock_skew_threshold: Duration,
    /// A node's log file, whose last lines go into diagnosis contexts (`diagnose`, `agent`);
    /// repeatable or comma-separated.
    #[arg(
        long = "node-log",
        env = "OPERATOR_NODE_LOGS",
        value_delimiter = ',',
        value_name = "PATH"
    )]
    pub node_logs: Vec<PathBuf>,
    /// The nodes' admin token (their `--admin-token`), sent as `Authorization: Bearer` on every
    /// request to their management endpoints (`/v1/*`). Never printed.
    #[arg(
        long,
        env = "OPERATOR_NODE_TOKEN",
        hide_env_values = true,
        value_parser = NodeToken::parse,
        value_name = "TOKEN"
    )]
    pub node_token: Option<NodeToken>,
}

/// `--redis-mode`: `single`, `cluster` or `sentinel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RedisModeArg {
    /// One Redis server.
    Single,
    /// A Redis Cluster.
    Cluster,
    /// A primary failed over by Redis Sentinel.
    Sentinel,
}

impl From<RedisModeArg> for RedisMode {
    fn from(m: RedisModeArg) -> Self {
        match m {
            RedisModeArg::Single => RedisMode::Single,
            RedisModeArg::Cluster => RedisMode::Cluster,
            RedisModeArg::Sentinel => RedisMode::Sentinel,
        }
    }
}

/// The node token of `--node-token`: its `Debug` form is `***`, so that printing the flags
/// never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct NodeToken(String);

impl NodeToken {
    /// Accepts a non-empty token without spaces or control characters.
    ///
    /// # Errors
    /// The reason, which clap shows naming the flag (exit code 2).
    fn parse(s: &str) -> Result<Self, String> {
        if s.is_empty() || s.chars().any(|c| c.is_control() || c == ' ') {
            return Err("must be non-empty, without spaces or control characters".into());
        }
        Ok(Self(s.to_owned()))
    }
}

impl std::fmt::Debug for NodeToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl RateLimitArgs {
    /// The subject's configuration.
    ///
    /// # Errors
    /// A usage error naming the bad flag.
    pub fn config(&self) -> Result<RateLimiterConfig, CliError> {
        let config = RateLimiterConfig {
            redis_url: self.redis_url.clone(),
            redis_mode: self.redis_mode.into(),
            sentinel_master: self.sentinel_master.clone(),
            failover_memory: self.failover_memory,
            nodes: self
                .nodes
                .iter()
                .map(|n| n.trim().to_owned())
                .filter(|n| !n.is_empty())
                .collect(),
            key_prefix: self.key_prefix.clone(),
            redis_timeout: self.redis_timeout,
            node_timeout: self.node_timeout,
            node_token: self.node_token.as_ref().map(|t| t.0.clone()),
            ..RateLimiterConfig::default()
        };
        config.validate().map_err(|e| {
            let msg = e.to_string();
            let flag = if msg.contains("redis-mode") {
                "--redis-url/--redis-mode"
            } else if msg.contains("redis url") || msg.contains("redis cluster") {
                "--redis-url"
            } else if msg.contains("sentinel master") {
                "--sentinel-master"
            } else if msg.contains("node token") {
                "--node-token"
            } else if msg.contains("node") && !msg.contains("timeout") {
                "--nodes"
            } else if msg.contains("prefix") {
                "--key-prefix"
            } else {
                "--redis-timeout/--node-timeout"
            };
            CliError::flag(flag, msg)
        })?;
        Ok(config)
    }

    /// The checker's thresholds.
    pub fn thresholds(&self) -> Thresholds {
        Thresholds {
            p99: self.p99_threshold,
            slow_ping: self.slow_ping_threshold,
            clock_skew: self.clock_skew_threshold,
            ..Thresholds::default()
        }
    }

    /// Builds the subject and hands it to `visitor`.
    ///
    /// # Errors
    /// A usage error naming the bad flag.
    pub async fn visit<V: WithSubject>(&self, visitor: V) -> Result<V::Output, CliError> {
        let subject = RateLimiterSubject::new(self.config()?)
            .map_err(|e| CliError::Usage(e.to_string()))?
            .with_context_sources(ContextSources {
                node_logs: self.node_logs.clone(),
                ..ContextSources::default()
            });
        Ok(visitor
            .with(subject, RateLimiterChecker::new(self.thresholds()), PROFILE)
            .await)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        ratelimit: RateLimitArgs,
    }

    #[test]
    fn cluster_and_sentinel_flags_reach_the_config_and_bad_ones_name_the_flag() {
        let args = Cli::try_parse_from([
            "operator",
            "--redis-mode",
            "cluster",
            "--redis-url",
            "redis://127.0.0.1:7000,redis://127.0.0.1:7001",
        ])
        .unwrap()
        .ratelimit;
        let c = args.config().unwrap();
        assert_eq!(c.redis_mode, RedisMode::Cluster);
        assert_eq!(c.redis_urls().len(), 2);
        let err = |argv: &[&str]| {
            let mut full = vec!["operator"];
            full.extend(argv);
            Cli::try_parse_from(full)
                .unwrap()
                .ratelimit
                .config()
                .unwrap_err()
                .to_string()
        };
        assert!(err(&["--redis-mode", "sentinel"]).contains("--sentinel-master"));
        assert!(err(&["--redis-url", "redis://a:1,redis://b:2"]).contains("--redis-mode"));
        assert!(Cli::try_parse_from(["operator", "--redis-mode", "ring"]).is_err());
    }

    #[test]
    fn flag_defaults_are_the_library_defaults() {
        let args = Cli::try_parse_from(["operator"]).unwrap().ratelimit;
        assert_eq!(args.config().unwrap(), RateLimiterConfig::default());
        assert_eq!(args.thresholds(), Thresholds::default());
    }

    #[test]
    fn the_node_token_reaches_the_config_and_is_never_printed() {
        let args = Cli::try_parse_from(["operator", "--node-token", "s3cret"])
            .unwrap()
            .ratelimit;
        assert_eq!(args.config().unwrap().node_token.as_deref(), Some("s3cret"));
        let shown = format!("{args:?} {:?}", args.config().unwrap());
        assert!(!shown.contains("s3cret"), "{shown}");
        let e = Cli::try_parse_from(["operator", "--node-token", ""]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("--node-token"), "{e}");
    }
}
