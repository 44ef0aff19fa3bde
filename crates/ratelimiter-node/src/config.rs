//! Node configuration: a plain struct with defaults, validated once.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use ipnet::IpNet;
use ratelimiter_schema::{FailureMode, LimiterMode, PolicySet, RedisMode};

use crate::error::ConfigError;

/// Everything a node needs to run. Build it (the binary does so from flags), call
/// [`Config::validate`], then hand it to [`crate::Node::new`].
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to serve HTTP on.
    pub listen: SocketAddr,
    /// Address to advertise in the node registry; the bound address when `None`.
    pub advertise: Option<String>,
    /// `redis://[:password@]host:port[/db]` or `rediss://...` for TLS; in cluster mode the
    /// seed nodes and in sentinel mode the sentinels, comma-separated.
    pub redis_url: String,
    /// How Redis is reached: one server, a Redis Cluster, or the primary named by Sentinel.
    pub redis_mode: RedisMode,
    /// The primary set the sentinels watch (sentinel mode only).
    pub sentinel_master: Option<String>,
    /// PEM root certificate(s) to trust for `rediss://` instead of the built-in web roots (for a
    /// Redis with a private CA).
    pub redis_ca_pem: Option<Vec<u8>>,
    /// This node's id in the registry, metrics and answers.
    pub node_id: String,
    /// Prefix of every Redis key (see [`ratelimiter_schema::keys`]).
    pub key_prefix: String,
    /// Policies seeded into Redis when it has none.
    pub seed_policies: PolicySet,
    /// What to decide while Redis cannot answer.
    pub failure_mode: FailureMode,
    /// How decisions are taken: `atomic` (exact), or a teaching mode that is not (`naive`:
    /// check and increment in two calls; `memory`: counters in this process only). Never run
    /// the teaching modes in production.
    pub limiter_mode: LimiterMode,
    /// Longest wait for any one Redis call.
    pub redis_timeout: Duration,
    /// Bearer token required by every `/v1/*` management endpoint (reads included), if set.
    pub admin_token: Option<String>,
    /// Shift of the node's clock, in ms: the clock of the `local` failure mode, reported in
    /// `/v1/node` (`now_ms`, `clock_skew_ms`). A fault-injection knob for testing clock-skew
    /// detection; shared limiting uses Redis time only.
    pub clock_offset_ms: i64,
    /// Abuse protection: enumeration, honeypot keys, memory guard ([`crate::abuse`]).
    pub abuse: crate::abuse::config::AbuseConfig,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// How often the node checks the policy version in Redis.
    pub policy_poll_interval: Duration,
    /// How often the node heartbeats (and measures the Redis round trip).
    pub heartbeat_interval: Duration,
    // -- security (trusted proxies, identifier secret) --
    /// Proxies whose `X-Forwarded-For` / `Forwarded` headers are believed (see
    /// [`crate::http::client_addr`]); empty: the TCP peer is always the client.
    pub trusted_proxies: Vec<IpNet>,
    /// Secret under which `api:` identifiers are fingerprinted before they reach Redis, metrics,
    /// logs or answers ([`ratelimiter_schema::fingerprint`]); shared by every node of a cluster.
    /// `None`: the unkeyed fingerprint (nothing in clear, but guessable for weak keys).
    pub identifier_secret: Option<String>,
    // -- forward-auth (GET /v1/forward-auth, crate::http::forward_auth) --
    /// The request header whose value keys a forward-auth request (fingerprinted as an API key);
    /// without it, the client address.
    pub forward_auth_header: String,
    /// The status of a forward-auth denial (400 to 599; nginx `auth_request` passes only 401
    /// and 403, so its configuration uses 403).
    pub forward_auth_deny_status: u16,
    // -- rate-limit service (gRPC, envoy configuration files) --
    /// Where to serve Envoy's rate-limit service over gRPC (`--grpc-listen`); off when `None`.
    pub grpc_listen: Option<SocketAddr>,
    /// PEM certificate and key files for gRPC over TLS (`--grpc-tls-cert`, `--grpc-tls-key`).
    pub grpc_tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
    /// Put the RateLimit headers in `response_headers_to_add` (`--rls-response-headers`).
    pub rls_response_headers: bool,
    /// envoyproxy/ratelimit YAML files, one domain each (`--envoy-config`).
    pub envoy_config: Vec<std::path::PathBuf>,
    /// Check a request's descriptors one script call each instead of one atomic call (always so
    /// in cluster mode, where their counters live on different slots).
    pub rls_per_descriptor: bool,
    // -- near cache (crate::near, docs/NEAR_CACHE.md) --
    /// Decide hot keys from cached denials and leased quota without a Redis call
    /// (`--near-cache`).
    pub near_cache: bool,
    /// The near cache's bound in estimated bytes (`--near-cache-max-bytes`).
    pub near_cache_max_bytes: u64,
}

/// The default of [`Config::near_cache_max_bytes`]: 64 MiB.
pub const DEFAULT_NEAR_CACHE_MAX_BYTES: u64 = 64 * 1024 * 1024;
/// The smallest [`Config::near_cache_max_bytes`] accepted (64 KiB: a few hundred entries).
pub const MIN_NEAR_CACHE_MAX_BYTES: u64 = 64 * 1024;

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            advertise: None,
            redis_url: "redis://127.0.0.1:6379".to_owned(),
            redis_mode: RedisMode::Single,
            sentinel_master: None,
            redis_ca_pem: None,
            node_id: default_node_id(),
            key_prefix: "ratelimit:".to_owned(),
            seed_policies: PolicySet::builtin(),
            failure_mode: FailureMode::Local,
            limiter_mode: LimiterMode::Atomic,
            redis_timeout: Duration::from_millis(50),
            admin_token: None,
            clock_offset_ms: 0,
            abuse: crate::abuse::config::AbuseConfig::default(),
            max_body_bytes: 16 * 1024,
            policy_poll_interval: Duration::from_millis(250),
            heartbeat_interval: Duration::from_millis(
                ratelimiter_schema::wire::HEARTBEAT_INTERVAL_MS,
            ),
            trusted_proxies: Vec::new(),
            identifier_secret: None,
            forward_auth_header: DEFAULT_FORWARD_AUTH_HEADER.to_owned(),
            forward_auth_deny_status: DEFAULT_FORWARD_AUTH_DENY_STATUS,
            grpc_listen: None,
            grpc_tls: None,
            rls_response_headers: false,
            envoy_config: Vec::new(),
            rls_per_descriptor: false,
            near_cache: false,
            near_cache_max_bytes: DEFAULT_NEAR_CACHE_MAX_BYTES,
        }
    }
}

/// The default of [`Config::forward_auth_header`].
pub const DEFAULT_FORWARD_AUTH_HEADER: &str = "X-API-Key";
/// The default of [`Config::forward_auth_deny_status`]: 429 Too Many Requests.
pub const DEFAULT_FORWARD_AUTH_DENY_STATUS: u16 = 429;

impl Config {
    /// Checks every field that can be checked without a network.
    ///
    /// # Errors
    /// The first [`ConfigError`] found.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_redis()?;
        ratelimiter_schema::keys::validate_prefix(&self.key_prefix)?;
        let id = &self.node_id;
        if id.is_empty() || id.len() > 128 || id.chars().any(char::is_control) {
            return Err(ConfigError::NodeId(id.clone()));
        }
        let ms = u64::try_from(self.redis_timeout.as_millis()).unwrap_or(u64::MAX);
        if !(1..=60_000).contains(&ms) {
            return Err(ConfigError::RedisTimeout(ms));
        }
        if self.admin_token.as_deref() == Some("") {
            return Err(ConfigError::EmptyAdminToken);
        }
        if self.identifier_secret.as_deref() == Some("") {
            return Err(ConfigError::EmptyIdentifierSecret);
        }
        self.abuse.validate()?;
        if axum::http::HeaderName::from_bytes(self.forward_auth_header.as_bytes()).is_err() {
            return Err(ConfigError::ForwardAuthHeader(
                self.forward_auth_header.clone(),
            ));
        }
        if self.near_cache_max_bytes < MIN_NEAR_CACHE_MAX_BYTES {
            return Err(ConfigError::NearCacheMaxBytes(self.near_cache_max_bytes));
        }
        if !(400..=599).contains(&self.forward_auth_deny_status) {
            return Err(ConfigError::ForwardAuthDenyStatus(
                self.forward_auth_deny_status,
            ));
        }
        Ok(())
    }
}

impl Config {
    /// Checks `redis_url`, `redis_mode` and `sentinel_master` together: one URL in single
    /// mode, at least one in the others, each parsing; a master name in sentinel mode only.
    fn validate_redis(&self) -> Result<(), ConfigError> {
        let urls: Vec<&str> = self.redis_url.split(',').map(str::trim).collect();
        if urls.iter().any(|u| u.is_empty()) {
            return Err(ConfigError::RedisUrlList(mask_password(&self.redis_url)));
        }
        if self.redis_mode == RedisMode::Single && urls.len() > 1 {
            return Err(ConfigError::SeveralUrlsInSingleMode(urls.len()));
        }
        for url in &urls {
            redis::Client::open(*url).map_err(|source| ConfigError::RedisUrl {
                url: mask_password(url),
                source,
            })?;
        }
        match (&self.sentinel_master, self.redis_mode) {
            (None, RedisMode::Sentinel) => Err(ConfigError::SentinelMasterMissing),
            (Some(name), RedisMode::Sentinel) if name.trim().is_empty() => {
                Err(ConfigError::SentinelMasterMissing)
            }
            (Some(_), mode @ (RedisMode::Single | RedisMode::Cluster)) => {
                Err(ConfigError::SentinelMasterOutsideSentinel(mode))
            }
            _ => Ok(()),
        }
    }

    /// The identifier secret as the fingerprint functions take it.
    pub fn identifier_secret_bytes(&self) -> Option<&[u8]> {
        self.identifier_secret.as_deref().map(str::as_bytes)
    }
}

/// Parses one `--trusted-proxies` entry: a CIDR (`10.0.0.0/8`, `fd00::/8`) or a bare address
/// (one host: `/32` or `/128`).
///
/// # Errors
/// A message saying what is wrong with `text`.
pub fn parse_trusted_proxy(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    if let Ok(net) = text.parse::<IpNet>() {
        return Ok(net.trunc());
    }
    text.parse::<std::net::IpAddr>()
        .map(IpNet::from)
        .map_err(|_| format!("{text:?} is not a CIDR (e.g. 10.0.0.0/8) or an IP address"))
}

/// The host name, or `ratelimiter-node` when it cannot be read.
pub fn default_node_id() -> String {
    gethostname::gethostname()
        .into_string()
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "ratelimiter-node".to_owned())
}

/// Reads a TOML seed file of policies (`[policies.<name>]` tables, see
/// [`PolicySet::from_specs`]).
///
/// # Errors
/// [`ConfigError::PoliciesRead`], [`ConfigError::PoliciesSyntax`] or [`ConfigError::Policy`].
pub fn load_policies_file(path: &Path) -> Result<PolicySet, ConfigError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct SeedFile {
        policies: std::collections::BTreeMap<String, ratelimiter_schema::PolicySpec>,
    }
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::PoliciesRead {
        path: path.to_owned(),
        source,
    })?;
    let file: SeedFile = toml::from_str(&text).map_err(|e| ConfigError::PoliciesSyntax {
        path: path.to_owned(),
        detail: e.to_string(),
    })?;
    PolicySet::from_specs(file.policies).map_err(|source| ConfigError::Policy {
        path: path.to_owned(),
        source,
    })
}

/// The URL with its password replaced by `***`, for messages.
pub fn mask_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or("", |(u, _)| u);
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_loopback() {
        let c = Config::default();
        c.validate().unwrap();
        assert!(c.listen.ip().is_loopback());
        assert!(c.redis_timeout < Duration::from_millis(100));
    }

    #[test]
    fn each_bad_field_is_refused() {
        let bad: Vec<Config> = vec![
            Config {
                redis_url: "http://x".into(),
                ..Config::default()
            },
            Config {
                key_prefix: "a{b".into(),
                ..Config::default()
            },
            Config {
                node_id: String::new(),
                ..Config::default()
            },
            Config {
                redis_timeout: Duration::ZERO,
                ..Config::default()
            },
            Config {
                admin_token: Some(String::new()),
                ..Config::default()
            },
            Config {
                identifier_secret: Some(String::new()),
                ..Config::default()
            },
            Config {
                forward_auth_header: "X API Key".into(),
                ..Config::default()
            },
            Config {
                forward_auth_deny_status: 200,
                ..Config::default()
            },
            Config {
                near_cache_max_bytes: 1000,
                ..Config::default()
            },
        ];
        for c in bad {
            assert!(c.validate().is_err(), "{c:?}");
        }
        let tls = Config {
            redis_url: "rediss://:secret@example.com:6380/0".into(),
            ..Config::default()
        };
        tls.validate().unwrap();
    }

    #[test]
    fn trusted_proxies_parse_as_cidrs_or_addresses() {
        let ok = |s: &str| parse_trusted_proxy(s).unwrap().to_string();
        assert_eq!(ok("172.28.0.10/32"), "172.28.0.10/32");
        assert_eq!(ok("10.1.2.3/8"), "10.0.0.0/8");
        assert_eq!(ok(" 10.0.0.1 "), "10.0.0.1/32");
        assert_eq!(ok("fd00::1"), "fd00::1/128");
        for bad in ["", "10.0.0.0/33", "nginx", "10.0.0.0/8/8", "1.2.3"] {
            let e = parse_trusted_proxy(bad).unwrap_err();
            assert!(e.contains("CIDR"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn passwords_are_masked() {
        assert_eq!(mask_password("redis://:pw@h:1"), "redis://:***@h:1");
        assert_eq!(mask_password("rediss://u:pw@h:1/0"), "rediss://u:***@h:1/0");
        assert_eq!(mask_password("redis://h:1"), "redis://h:1");
    }

    #[test]
    fn seed_file_is_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(
            &path,
            "[policies.default]\nwindows = [{ limit = 10, window_ms = 1000 }]\n\n[policies.login]\nmatch = \"login:*\"\nwindows = [{ limit = 5, window_ms = 1000 }, { limit = 100, window_ms = 3600000 }]\n",
        )
        .unwrap();
        let set = load_policies_file(&path).unwrap();
        assert_eq!(set.len(), 2);
        assert_eq!(set.select("login:1").unwrap().windows.len(), 2);
        std::fs::write(&path, "[policies.x]\nmatch = \"*\"\nwindows = []\n").unwrap();
        assert!(matches!(
            load_policies_file(&path),
            Err(ConfigError::Policy { .. })
        ));
        std::fs::write(&path, "not toml [").unwrap();
        assert!(matches!(
            load_policies_file(&path),
            Err(ConfigError::PoliciesSyntax { .. })
        ));
        assert!(matches!(
            load_policies_file(&dir.path().join("missing")),
            Err(ConfigError::PoliciesRead { .. })
        ));
    }
}
