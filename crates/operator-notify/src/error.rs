//! How notifications and metrics fail.

/// An error of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A receiver URL that cannot be used (printed without its path or credentials).
    #[error("invalid URL {url}: {reason}")]
    InvalidUrl {
        /// The URL, redacted.
        url: String,
        /// Why.
        reason: String,
    },
    /// A setting out of range.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// The HTTP client could not be built.
    #[error("http client: {0}")]
    Client(#[source] reqwest::Error),
    /// The metrics listener failed.
    #[error("metrics server: {0}")]
    Io(#[from] std::io::Error),
}

/// A result of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
