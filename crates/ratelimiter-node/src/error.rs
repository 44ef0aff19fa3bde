//! Errors of the node library.

use ratelimiter_schema::{KeyError, PolicyError};

/// Configuration that cannot work; reported before the port is bound.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The Redis URL does not parse (scheme, host, port, database).
    #[error("invalid --redis-url {url:?}: {source}")]
    RedisUrl {
        /// The URL with any password masked.
        url: String,
        /// What redis-rs said.
        #[source]
        source: redis::RedisError,
    },
    /// `--redis-url` has an empty entry (`a,,b`, a trailing comma).
    #[error("invalid --redis-url {0:?}: an empty entry in the comma-separated list")]
    RedisUrlList(String),
    /// Several URLs given in single mode.
    #[error(
        "--redis-url lists {0} URLs but --redis-mode is single: give one URL, or --redis-mode cluster|sentinel"
    )]
    SeveralUrlsInSingleMode(usize),
    /// Sentinel mode without a master name.
    #[error(
        "--redis-mode sentinel needs --sentinel-master NAME (the primary set the sentinels watch)"
    )]
    SentinelMasterMissing,
    /// A master name outside sentinel mode.
    #[error("--sentinel-master is only used with --redis-mode sentinel (not {0})")]
    SentinelMasterOutsideSentinel(ratelimiter_schema::RedisMode),
    /// The key prefix is unusable.
    #[error("invalid --key-prefix: {0}")]
    KeyPrefix(#[from] KeyError),
    /// The node id is empty, too long or has control characters.
    #[error("invalid --node-id {0:?}: use 1 to 128 printable characters")]
    NodeId(String),
    /// The Redis timeout is outside 1 ms to 60 s.
    #[error("invalid --redis-timeout-ms {0}: use 1 to 60000")]
    RedisTimeout(u64),
    /// The admin token is set but empty.
    #[error("--admin-token is set but empty")]
    EmptyAdminToken,
    /// The identifier secret is set but empty.
    #[error("--identifier-secret is set but empty")]
    EmptyIdentifierSecret,
    /// The Redis CA file cannot be read.
    #[error("cannot read --redis-ca-file {path}: {source}")]
    CaRead {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The policies file cannot be read.
    #[error("cannot read --policies file {path}: {source}")]
    PoliciesRead {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The policies file is not valid TOML of the expected shape.
    #[error("invalid --policies file {path}: {detail}")]
    PoliciesSyntax {
        /// The file.
        path: std::path::PathBuf,
        /// What the TOML parser said.
        detail: String,
    },
    /// A policy of the file breaks a rule.
    #[error("invalid policy in --policies file {path}: {source}")]
    Policy {
        /// The file.
        path: std::path::PathBuf,
        /// The rule broken.
        #[source]
        source: PolicyError,
    },
    /// An abuse setting (`--enumeration-*`, `--honeypot-keys`, `--memory-guard-ratio`).
    #[error(transparent)]
    Abuse(#[from] crate::abuse::config::AbuseConfigError),
    /// The forward-auth header is not a valid HTTP header name.
    #[error("invalid --forward-auth-header {0:?}: not an HTTP header name")]
    ForwardAuthHeader(String),
    /// The near cache's bound is too small to hold anything useful.
    #[error("invalid --near-cache-max-bytes {0}: use at least 65536")]
    NearCacheMaxBytes(u64),
    /// The forward-auth deny status is not a 4xx or 5xx.
    #[error("invalid --forward-auth-deny-status {0}: use 400 to 599")]
    ForwardAuthDenyStatus(u16),
}

/// A Redis call that failed or ran past the timeout.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No answer within `--redis-timeout-ms`.
    #[error("redis did not answer within {0} ms")]
    Timeout(u64),
    /// Redis (or the connection to it) returned an error.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Redis answered something the node cannot read.
    #[error("unexpected reply from redis: {0}")]
    Reply(String),
    /// Not sent: Redis keeps failing and the breaker is open until a probe succeeds.
    #[error("redis keeps failing: skipped until a probe succeeds (circuit open)")]
    Skipped,
}

impl StoreError {
    /// Whether the call timed out (as opposed to failing).
    pub fn is_timeout(&self) -> bool {
        matches!(self, StoreError::Timeout(_))
    }
}
