//! The answers the layer gives itself, exactly as the node gives them: the RateLimit headers
//! (`ratelimiter_node::http::headers`), 429 with `/v1/check`'s JSON body, and the node's error
//! bodies (`{"error", "detail"}`) for 400, 401 and 503.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode, header};
use ratelimiter_node::Decision;
use ratelimiter_node::algorithm::Outcome;
use ratelimiter_node::http::headers::rate_limit_headers;
use ratelimiter_node::rls::{RlsCode, RlsStatus};
use ratelimiter_schema::{CheckResponse, ErrorBody, ErrorCode, FailureMode, Policy, Window};

use crate::error::KeyError;

/// A descriptor's status as the node's [`Decision`] (its policy holds one window), so that its
/// headers and body are the node's; `None` for a descriptor without a limit.
pub fn decision(status: &RlsStatus, degraded: Option<FailureMode>) -> Option<Decision> {
    let (limit, name) = (status.limit?, status.policy.clone()?);
    let window = Window::new(limit.requests_per_unit, limit.unit.window_ms());
    Some(Decision {
        policy: Policy {
            algorithm: Default::default(),
            pattern: format!("rls:{name}:*"),
            name,
            windows: vec![window],
        },
        windows: vec![window],
        outcome: Outcome {
            allowed: status.code == RlsCode::Ok,
            reported: 0,
            retry_after_ms: status.retry_after_ms,
            windows: vec![(status.remaining, status.reset_after_ms)],
        },
        degraded,
        cached: None,
    })
}

/// The decision a request's answer reports: the first denying one, else the one with the least
/// remaining (as one decision reports its tightest window).
pub fn reported(decisions: &[Decision]) -> Option<&Decision> {
    decisions
        .iter()
        .find(|d| !d.outcome.allowed)
        .or_else(|| decisions.iter().min_by_key(|d| d.reported().remaining))
}

/// The RateLimit headers of `decisions`: every window of every decision in `RateLimit-Policy`
/// and `RateLimit`, the [`reported`] one in `X-RateLimit-*` and `Retry-After`.
pub fn headers(decisions: &[Decision]) -> HeaderMap {
    let mut out = HeaderMap::new();
    let Some(main) = reported(decisions) else {
        return out;
    };
    let mut lists: [(&str, Vec<String>); 2] = [("ratelimit-policy", vec![]), ("ratelimit", vec![])];
    for d in decisions {
        for (name, value) in rate_limit_headers(d) {
            if let Some((_, list)) = lists.iter_mut().find(|(n, _)| *n == name) {
                list.push(value);
            }
        }
    }
    for (name, list) in lists {
        insert(&mut out, name, &list.join(", "));
    }
    for (name, value) in rate_limit_headers(main) {
        if name.starts_with("x-ratelimit-") || name == "retry-after" {
            insert(&mut out, name, &value);
        }
    }
    out
}

fn insert(map: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        map.insert(HeaderName::from_static(name), v);
    }
}

/// `/v1/check`'s body for `d`, decided for the node `node`.
pub fn check_body(node: &str, d: &Decision) -> CheckResponse {
    d.check_response(node)
}

/// 429 with the RateLimit headers and the denying decision's `/v1/check` body.
pub fn too_many_requests(node: &str, decisions: &[Decision]) -> Response<Body> {
    let body = reported(decisions).map(|d| check_body(node, d));
    let mut response = json(StatusCode::TOO_MANY_REQUESTS, &body);
    response.headers_mut().extend(headers(decisions));
    response
}

/// 400 `invalid_key`, or 401 `unauthorized` with `WWW-Authenticate: Bearer` for a token problem.
pub fn key_error(error: &KeyError) -> Response<Body> {
    if error.is_unauthorized() {
        let mut r = error_body(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, error);
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"ratelimiter\""),
        );
        r
    } else {
        error_body(StatusCode::BAD_REQUEST, ErrorCode::InvalidKey, error)
    }
}

/// 503 `redis_unavailable` with `Retry-After: 1`: Redis is down and the failure mode is closed.
pub fn unavailable(detail: &impl ToString) -> Response<Body> {
    let mut r = error_body(
        StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::RedisUnavailable,
        detail,
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    r
}

/// 400 with `code` (an invalid cost, a key too long).
pub fn bad_request(code: ErrorCode, detail: &impl ToString) -> Response<Body> {
    error_body(StatusCode::BAD_REQUEST, code, detail)
}

fn error_body(status: StatusCode, code: ErrorCode, detail: &impl ToString) -> Response<Body> {
    json(
        status,
        &ErrorBody {
            error: code,
            detail: detail.to_string(),
        },
    )
}

fn json(status: StatusCode, body: &impl serde::Serialize) -> Response<Body> {
    // Serializing plain structs cannot fail; an empty body would be the only consequence.
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut r = Response::new(Body::from(bytes));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratelimiter_node::rls::{RateLimitConfig, Unit};

    fn status(policy: &str, rpu: u64, remaining: u64, code: RlsCode) -> RlsStatus {
        RlsStatus {
            code,
            limit: Some(RateLimitConfig {
                unit: Unit::Minute,
                requests_per_unit: rpu,
                unlimited: false,
            }),
            policy: Some(policy.to_owned()),
            remaining,
            reset_after_ms: 1_500,
            retry_after_ms: if code == RlsCode::Ok { 0 } else { 2_500 },
            shadowed: false,
        }
    }

    #[test]
    fn several_descriptors_list_every_window_and_report_the_tightest_or_the_denial() {
        let ok = [
            status("a", 10, 7, RlsCode::Ok),
            status("b", 5, 1, RlsCode::Ok),
        ];
        let decisions: Vec<Decision> = ok.iter().filter_map(|s| decision(s, None)).collect();
        let h = headers(&decisions);
        assert_eq!(
            h["ratelimit-policy"],
            "\"a/1m\";q=10;w=60, \"b/1m\";q=5;w=60"
        );
        assert_eq!(h["ratelimit"], "\"a/1m\";r=7;t=2, \"b/1m\";r=1;t=2");
        assert_eq!(h["x-ratelimit-limit"], "5", "the tightest");
        assert!(!h.contains_key("retry-after"));
        let denied = [
            status("a", 10, 7, RlsCode::Ok),
            status("b", 5, 0, RlsCode::OverLimit),
        ];
        let decisions: Vec<Decision> = denied.iter().filter_map(|s| decision(s, None)).collect();
        assert_eq!(reported(&decisions).unwrap().policy.name, "b");
        let r = too_many_requests("n1", &decisions);
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()["retry-after"], "3");
        let unlimited = RlsStatus {
            limit: None,
            policy: None,
            ..status("x", 1, 0, RlsCode::Ok)
        };
        assert!(
            decision(&unlimited, None).is_none(),
            "no limit: no decision"
        );
    }

    #[test]
    fn key_errors_are_400_or_401_with_the_node_bodies() {
        let r = key_error(&KeyError::MissingToken);
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(r.headers().contains_key(header::WWW_AUTHENTICATE));
        let r = key_error(&KeyError::BadHeader("x-tenant".into(), "is empty"));
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(unavailable(&"down").headers()[header::RETRY_AFTER], "1");
    }
}
