//! Errors of the load engine.

/// A load run that cannot start.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The configuration is unusable.
    #[error("invalid load configuration: {0}")]
    Config(String),
    /// A target URL does not parse as `http://host:port`.
    #[error("invalid target {0:?}: use http://host:port")]
    Target(String),
}
