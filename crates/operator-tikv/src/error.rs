//! Errors of the TiKV subject.

use std::fmt;

/// Why PD or Prometheus could not be asked, or what they answered could not be understood.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is invalid; the message names the setting.
    #[error("invalid TiKV configuration: {0}")]
    Config(String),
    /// The HTTP client could not be built (TLS initialisation).
    #[error("cannot build the HTTP client")]
    Client(#[source] reqwest::Error),
    /// The request failed before an HTTP status came back: connection refused, timeout, reset.
    #[error("request to {url} failed")]
    Request {
        /// The URL asked.
        url: String,
        /// What reqwest reported.
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with a non-success HTTP status.
    #[error("{url} answered HTTP {status}: {body}")]
    Status {
        /// The URL asked.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// The start of the response body, for the message.
        body: String,
    },
    /// The server answered 2xx with a body that is not the expected JSON.
    #[error("unexpected response from {url}")]
    Decode {
        /// The URL asked.
        url: String,
        /// Why it did not parse.
        #[source]
        source: serde_json::Error,
    },
    /// A value in a response is not what the API documents (e.g. a byte size PD never writes).
    #[error("unexpected value in the response from {url}: {message}")]
    Invalid {
        /// The URL asked.
        url: String,
        /// What is wrong.
        message: String,
    },
    /// Prometheus rejected or failed a query (`"status": "error"`).
    #[error("prometheus query failed ({error_type}): {message}")]
    Query {
        /// The PromQL expression.
        query: String,
        /// Prometheus' `errorType` (`bad_data`, `timeout`, `execution`, ...).
        error_type: String,
        /// Prometheus' `error`.
        message: String,
        /// The HTTP status that came with it.
        status: u16,
    },
    /// No PD endpoint answered the store list: the cluster cannot be observed.
    #[error("PD unreachable: {}", EndpointFailures(.failures))]
    PdUnreachable {
        /// Each endpoint tried, in order, with why it failed.
        failures: Vec<EndpointFailure>,
    },
}

/// One PD endpoint that could not be used, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EndpointFailure {
    /// The endpoint, as configured.
    pub endpoint: String,
    /// Why it failed, in one line.
    pub error: String,
}

struct EndpointFailures<'a>(&'a [EndpointFailure]);

impl fmt::Display for EndpointFailures<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("no endpoint configured");
        }
        for (i, failure) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", failure.endpoint, failure.error)?;
        }
        Ok(())
    }
}

impl Error {
    /// Whether asking again later may succeed: the network or the server failed, rather than
    /// the request or the configuration being wrong.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Request { .. } | Error::PdUnreachable { .. } => true,
            Error::Status { status, .. } => *status >= 500 || *status == 429,
            Error::Query {
                error_type, status, ..
            } => *status >= 500 || error_type == "timeout" || error_type == "canceled",
            Error::Config(_) | Error::Client(_) | Error::Decode { .. } | Error::Invalid { .. } => {
                false
            }
        }
    }

    /// Whether the request timed out.
    pub fn is_timeout(&self) -> bool {
        match self {
            Error::Request { source, .. } => source.is_timeout(),
            Error::Query { error_type, .. } => error_type == "timeout",
            _ => false,
        }
    }

    /// A one-line summary: this error and its innermost cause (e.g. `request to URL failed:
    /// Connection refused (os error 111)`), for observations and endpoint failures.
    pub fn summary(&self) -> String {
        let mut innermost: Option<String> = None;
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            innermost = Some(cause.to_string());
            source = cause.source();
        }
        match innermost {
            Some(cause) if self.is_timeout() => format!("{self}: timed out ({cause})"),
            Some(cause) => format!("{self}: {cause}"),
            None => self.to_string(),
        }
    }
}

impl Error {
    /// A short line for observations, meant to follow the name of the server asked: the
    /// innermost cause of a failed request (`Connection refused (os error 111)`, `timed out`),
    /// `HTTP 503: <body>` for an error status, else the error itself.
    pub fn short(&self) -> String {
        match self {
            Error::Request { source, .. } => {
                if source.is_timeout() {
                    return "timed out".to_owned();
                }
                let mut innermost: &(dyn std::error::Error + 'static) = source;
                while let Some(cause) = innermost.source() {
                    innermost = cause;
                }
                innermost.to_string()
            }
            Error::Status { status, body, .. } if body.is_empty() => format!("HTTP {status}"),
            Error::Status { status, body, .. } => format!("HTTP {status}: {body}"),
            Error::Decode { source, .. } => format!("unexpected response: {source}"),
            Error::Invalid { message, .. } => format!("unexpected value: {message}"),
            other => other.to_string(),
        }
    }
}

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pd_unreachable_names_every_endpoint() {
        let e = Error::PdUnreachable {
            failures: vec![
                EndpointFailure {
                    endpoint: "http://pd1:2379".into(),
                    error: "connection refused".into(),
                },
                EndpointFailure {
                    endpoint: "http://pd2:2379".into(),
                    error: "timed out".into(),
                },
            ],
        };
        assert_eq!(
            e.to_string(),
            "PD unreachable: http://pd1:2379: connection refused; http://pd2:2379: timed out"
        );
        assert!(e.is_transient());
    }

    #[test]
    fn classification() {
        let status = |status| Error::Status {
            url: "u".into(),
            status,
            body: String::new(),
        };
        assert!(status(503).is_transient());
        assert!(!status(404).is_transient());
        assert!(!Error::Config("x".into()).is_transient());
        let query = Error::Query {
            query: "up".into(),
            error_type: "bad_data".into(),
            message: "parse error".into(),
            status: 400,
        };
        assert!(!query.is_transient() && !query.is_timeout());
    }
}
