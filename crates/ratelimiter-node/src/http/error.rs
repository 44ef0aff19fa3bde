//! The one error type of the HTTP layer: every failure is a status and a JSON [`ErrorBody`].

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ratelimiter_schema::{ErrorBody, ErrorCode};

use crate::decide::DecideError;
use crate::error::StoreError;

/// An HTTP error answer: `{"error": code, "detail": ...}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The status.
    pub status: StatusCode,
    /// The stable code.
    pub code: ErrorCode,
    /// The human detail.
    pub detail: String,
}

impl ApiError {
    /// A 400 with `code`.
    pub fn bad_request(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code,
            detail: detail.into(),
        }
    }

    /// A 404 with `code`.
    pub fn not_found(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            code,
            detail: detail.into(),
        }
    }

    /// A 401.
    pub fn unauthorized() -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            code: ErrorCode::Unauthorized,
            detail: "this endpoint needs `Authorization: Bearer <admin token>`".to_owned(),
        }
    }

    /// A 503 for a management call Redis could not serve.
    pub fn redis(error: &StoreError) -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: ErrorCode::RedisUnavailable,
            detail: error.to_string(),
        }
    }
}

impl From<axum::extract::rejection::PathRejection> for ApiError {
    /// A path segment that does not decode (`/v1/policies/%80`: not UTF-8) is a bad request,
    /// answered as JSON like every other error, not with axum's plain-text rejection.
    fn from(rejection: axum::extract::rejection::PathRejection) -> Self {
        Self::bad_request(ErrorCode::BadRequest, rejection.body_text())
    }
}

impl From<DecideError> for ApiError {
    fn from(e: DecideError) -> Self {
        match e {
            DecideError::NoPolicy => Self::not_found(ErrorCode::NoPolicy, e.to_string()),
            DecideError::InvalidCost { .. } => {
                Self::bad_request(ErrorCode::InvalidCost, e.to_string())
            }
            DecideError::Unavailable => Self {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: ErrorCode::RedisUnavailable,
                detail: e.to_string(),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code,
            detail: self.detail,
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"ratelimiter\""),
            );
        }
        if self.status == StatusCode::PAYLOAD_TOO_LARGE {
            // The rest of the oversized body is never read, so this connection cannot carry
            // another request: say so, or a keep-alive client (or load balancer) reuses it and
            // its next request fails.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}
