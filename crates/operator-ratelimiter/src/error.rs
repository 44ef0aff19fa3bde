//! Errors of the rate limiter subject.

/// Why the subject could not be configured, observed, or could not carry out an action.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is invalid; the message names the setting.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A Redis call failed.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// A Redis call did not answer in time.
    #[error("redis did not answer within {0} ms")]
    RedisTimeout(u128),
    /// The action's arguments are invalid or cannot apply.
    #[error("{0}")]
    Action(String),
}

impl Error {
    /// Whether trying again later may succeed (network trouble rather than a bad request).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Redis(e) => {
                e.is_io_error()
                    || e.is_timeout()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal()
            }
            Error::RedisTimeout(_) => true,
            Error::Config(_) | Error::Action(_) => false,
        }
    }
}

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
