//! Errors of the rate limiter subject, and [`ErrorKind`]: how a request to Redis or to a node
//! failed, told where the error is caught.

use std::error::Error as StdError;

use serde::{Deserialize, Serialize};

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
    /// Part of a Redis Cluster could not be read (no instance told the topology, a primary
    /// serving slots does not answer).
    #[error("cluster: {0}")]
    Cluster(String),
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
            Error::RedisTimeout(_) | Error::Cluster(_) => true,
            Error::Config(_) | Error::Action(_) => false,
        }
    }

    /// How the call failed: refused, timed out, cut, a failed lookup, or something else.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::RedisTimeout(_) => ErrorKind::TimedOut,
            Error::Redis(e) if e.is_connection_refusal() => ErrorKind::Refused,
            Error::Redis(e) if e.is_timeout() => ErrorKind::TimedOut,
            Error::Redis(e) if is_lookup_failure(e) => ErrorKind::Dns,
            // A connection that was open and failed: reset, broken pipe, closed by the server
            // (the first error after Redis died, before reconnecting tells refused from frozen).
            Error::Redis(e) if e.is_connection_dropped() => ErrorKind::Reset,
            Error::Redis(_) | Error::Config(_) | Error::Action(_) | Error::Cluster(_) => {
                ErrorKind::Other
            }
        }
    }
}

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How a request to Redis or to a node failed, classified when the error is caught, so that
/// diagnoses match on it rather than on messages. `refused`, `timed_out`, `reset`, `dns`,
/// `unauthorized` or `other` in JSON and text; declared from the most telling down, the order that picks one kind
/// for a node whose endpoints failed differently.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, strum::Display,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ErrorKind {
    /// The connection was refused: nothing listens there (the process is not running).
    Refused,
    /// No answer in time: the server is frozen or overloaded, or the path to it is cut.
    TimedOut,
    /// An open connection was cut: reset, broken pipe, closed by the other side.
    Reset,
    /// The host name does not resolve.
    Dns,
    /// The node answered but refused the monitor's request for want of the right token (401, or
    /// 429 after repeated wrong tokens): the monitor needs `--node-token`.
    Unauthorized,
    /// Anything else: an error status, an answer that does not parse, a server error.
    Other,
}

impl ErrorKind {
    /// The kind an I/O error among the causes of `e` tells, if any, else [`ErrorKind::Dns`] when
    /// a cause is a failed host-name lookup.
    pub(crate) fn of_causes(e: &(dyn StdError + 'static)) -> Option<Self> {
        let io = causes(e).find_map(|c| c.downcast_ref::<std::io::Error>());
        let by_io = io.and_then(|io| match io.kind() {
            std::io::ErrorKind::ConnectionRefused => Some(ErrorKind::Refused),
            std::io::ErrorKind::TimedOut => Some(ErrorKind::TimedOut),
            std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::BrokenPipe
            | std::io::ErrorKind::UnexpectedEof => Some(ErrorKind::Reset),
            _ => None,
        });
        by_io.or_else(|| is_lookup_failure(e).then_some(ErrorKind::Dns))
    }
}

/// `e` and its sources, outermost first.
pub(crate) fn causes<'a>(
    e: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(e), |&c| c.source())
}

/// Whether a cause of `e` is a failed host-name lookup. Neither the HTTP nor the Redis client
/// gives it a type, and std's `io::ErrorKind` for it is not stable: std's own message is the
/// one mark it has.
fn is_lookup_failure(e: &(dyn StdError + 'static)) -> bool {
    causes(e).any(|c| {
        c.to_string()
            .starts_with("failed to lookup address information")
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::redis_handle::RedisHandle;

    async fn ping(url: &str) -> Error {
        let redis = RedisHandle::new(url, Duration::from_millis(300)).unwrap();
        redis
            .run(redis.timeout(), |mut c| async move {
                redis::cmd("PING").query_async::<String>(&mut c).await
            })
            .await
            .unwrap_err()
    }

    #[tokio::test]
    async fn redis_failures_are_classified_where_they_are_caught() {
        let refused = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let silent = silent.local_addr().unwrap().port();
        for (url, kind) in [
            (format!("redis://127.0.0.1:{refused}"), ErrorKind::Refused),
            (format!("redis://127.0.0.1:{silent}"), ErrorKind::TimedOut),
            ("redis://redis.invalid:6379".to_owned(), ErrorKind::Dns),
        ] {
            let e = ping(&url).await;
            assert_eq!(e.kind(), kind, "{url}: {e}");
        }
        assert_eq!(Error::Action("x".into()).kind(), ErrorKind::Other);
    }

    #[test]
    fn kinds_have_stable_names() {
        for (kind, name) in [
            (ErrorKind::Refused, "refused"),
            (ErrorKind::TimedOut, "timed_out"),
            (ErrorKind::Reset, "reset"),
            (ErrorKind::Dns, "dns"),
            (ErrorKind::Unauthorized, "unauthorized"),
            (ErrorKind::Other, "other"),
        ] {
            assert_eq!(kind.to_string(), name);
            assert_eq!(serde_json::to_value(kind).unwrap(), name);
        }
    }
}
