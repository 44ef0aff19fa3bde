//! Errors of the middleware: configuration that cannot work ([`ConfigError`], at build or
//! reload time) and requests whose key cannot be read ([`KeyError`], answered 400 or 401).

/// A configuration the layer refuses at build time (on a reload, the last good file stays).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A key template does not parse.
    #[error("invalid key template {template:?}: {why}")]
    Template {
        /// The template.
        template: String,
        /// What is wrong.
        why: String,
    },
    /// The JWT key cannot be used.
    #[error("invalid JWT key: {0}")]
    JwtKey(String),
    /// A template needs `{sub}` but no JWT key was configured.
    #[error("key template {0:?} uses the JWT subject but no JWT key is configured")]
    NoJwtKey(String),
    /// No key template at all.
    #[error("no key template: add one with `key(...)`")]
    NoKeys,
    /// An envoyproxy/ratelimit configuration file is refused (its line named).
    #[error(transparent)]
    Envoy(#[from] ratelimiter_node::rls::RlsConfigError),
    /// No domain: none given and no single configuration file to take it from.
    #[error("no domain: set `domain(...)` or give exactly one envoy configuration file")]
    NoDomain,
    /// The node's configuration is refused.
    #[error(transparent)]
    Node(#[from] ratelimiter_node::ConfigError),
}

/// Why a request's key cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// A header the key uses is empty or not visible ASCII (400 `invalid_key`).
    #[error("header {0} {1}")]
    BadHeader(String, &'static str),
    /// The key uses the JWT subject and there is no bearer token (401).
    #[error("this endpoint needs `Authorization: Bearer <JWT>`")]
    MissingToken,
    /// The bearer token does not verify (401).
    #[error("invalid bearer token: {0}")]
    InvalidToken(String),
    /// The key uses the JWT subject but the layer has no JWT key (a build-time check prevents
    /// it; kept for extractors used on their own).
    #[error("no JWT key configured")]
    NoJwtKey,
}

impl KeyError {
    /// Whether the client must authenticate (401) rather than fix its request (400).
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, Self::MissingToken | Self::InvalidToken(_))
    }
}
