//! Errors of the model clients.

use std::time::Duration;

/// Why a model could not be asked, or its answer not used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is invalid; the message names the setting.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The request could not be sent or the response not read.
    #[error("request failed: {0}")]
    Transport(String),
    /// No response within the timeout.
    #[error("no response within {} ms", .0.as_millis())]
    Timeout(Duration),
    /// The API answered with an error status.
    #[error("HTTP {status} {kind}: {message}")]
    Status {
        /// HTTP status.
        status: u16,
        /// The provider's error type (`rate_limit_error`, `overloaded_error`...), when given.
        kind: String,
        /// The provider's message.
        message: String,
        /// How long the provider asked to wait (`retry-after`).
        retry_after: Option<Duration>,
    },
    /// A success status, but not a response of the documented shape.
    #[error("unexpected response: {0}")]
    Protocol(String),
}

impl Error {
    /// Whether the same request may succeed later: timeouts, transport failures, 408, 409, 429
    /// and 5xx (including Anthropic's 529 "overloaded").
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Transport(_) | Error::Timeout(_) => true,
            Error::Status { status, .. } => matches!(status, 408 | 409 | 429) || *status >= 500,
            Error::Config(_) | Error::Protocol(_) => false,
        }
    }

    /// The wait the provider asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(s: u16) -> Error {
        Error::Status {
            status: s,
            kind: String::new(),
            message: String::new(),
            retry_after: None,
        }
    }

    #[test]
    fn transient_errors_are_the_retryable_ones() {
        for s in [408, 429, 500, 502, 503, 504, 529] {
            assert!(status(s).is_transient(), "{s}");
        }
        for s in [400, 401, 403, 404, 413] {
            assert!(!status(s).is_transient(), "{s}");
        }
        assert!(Error::Timeout(Duration::from_secs(1)).is_transient());
        assert!(!Error::Protocol("x".into()).is_transient());
    }
}
