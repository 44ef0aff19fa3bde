//! The answer to a blocked client: 429 `{"error": "client_blocked", "detail"}` with
//! `Retry-After`, whatever the key.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ratelimiter_schema::{ErrorBody, ErrorCode};

/// A client refused because it is blocked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blocked {
    /// Milliseconds until the block ends.
    pub retry_after_ms: u64,
}

impl IntoResponse for Blocked {
    fn into_response(self) -> Response {
        let secs = self.retry_after_ms.div_ceil(1000).max(1);
        let body = ErrorBody {
            error: ErrorCode::ClientBlocked,
            detail: format!("this client is blocked for abuse for {secs} more seconds"),
        };
        let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_a_429_with_retry_after_in_whole_seconds() {
        let r = Blocked {
            retry_after_ms: 1_200,
        }
        .into_response();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "2");
    }
}
