//! Envoy's protobuf types (from `envoy-types`) to and from the [`crate::rls`] model, and the
//! RateLimit headers put in `response_headers_to_add` with `--rls-response-headers`, named and
//! valued as envoyproxy/ratelimit's `LIMIT_RESPONSE_HEADERS_ENABLED` does: `RateLimit-Limit`,
//! `RateLimit-Remaining`, `RateLimit-Reset` (seconds), of the limited descriptor with the least
//! remaining.

use envoy_types::pb::envoy::config::core::v3::HeaderValue;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_response::{
    Code, DescriptorStatus, RateLimit,
};
use envoy_types::pb::envoy::service::ratelimit::v3::{RateLimitRequest, RateLimitResponse};
use envoy_types::pb::google::protobuf::Duration;

use crate::rls::{Descriptor, Entry, RlsAnswer, RlsCode, RlsRequest, RlsStatus};

/// The header with the limit.
pub const LIMIT_HEADER: &str = "RateLimit-Limit";
/// The header with the remaining hits.
pub const REMAINING_HEADER: &str = "RateLimit-Remaining";
/// The header with the seconds until reset.
pub const RESET_HEADER: &str = "RateLimit-Reset";

/// The request in the model (validated later by the decision).
pub fn request_from_proto(request: RateLimitRequest) -> RlsRequest {
    RlsRequest {
        domain: request.domain,
        descriptors: request
            .descriptors
            .into_iter()
            .map(|d| Descriptor {
                entries: d
                    .entries
                    .into_iter()
                    .map(|e| Entry {
                        key: e.key,
                        value: e.value,
                    })
                    .collect(),
            })
            .collect(),
        hits_addend: u64::from(request.hits_addend),
    }
}

/// The answer as Envoy reads it.
pub fn response_to_proto(answer: &RlsAnswer, headers: bool) -> RateLimitResponse {
    RateLimitResponse {
        overall_code: code(answer.overall),
        statuses: answer.statuses.iter().map(status).collect(),
        response_headers_to_add: if headers {
            rate_limit_headers(&answer.statuses)
        } else {
            Vec::new()
        },
        ..RateLimitResponse::default()
    }
}

fn code(c: RlsCode) -> i32 {
    match c {
        RlsCode::Ok => Code::Ok as i32,
        RlsCode::OverLimit => Code::OverLimit as i32,
    }
}

fn status(s: &RlsStatus) -> DescriptorStatus {
    let limited = s.limit.filter(|l| !l.unlimited);
    DescriptorStatus {
        code: code(s.code),
        current_limit: limited.map(|l| RateLimit {
            name: s.policy.clone().unwrap_or_default(),
            requests_per_unit: u32::try_from(l.requests_per_unit).unwrap_or(u32::MAX),
            unit: l.unit.proto(),
        }),
        limit_remaining: u32::try_from(s.remaining).unwrap_or(u32::MAX),
        duration_until_reset: limited.map(|_| duration(s.reset_after_ms)),
        quota: None,
    }
}

fn duration(ms: u64) -> Duration {
    Duration {
        seconds: i64::try_from(ms / 1000).unwrap_or(i64::MAX),
        // Below 1e9, so it fits.
        nanos: i32::try_from((ms % 1000) * 1_000_000).unwrap_or(0),
    }
}

fn rate_limit_headers(statuses: &[RlsStatus]) -> Vec<HeaderValue> {
    let Some((s, limit)) = statuses
        .iter()
        .filter_map(|s| s.limit.filter(|l| !l.unlimited).map(|l| (s, l)))
        .min_by_key(|(s, _)| s.remaining)
    else {
        return Vec::new();
    };
    let header = |key: &str, value: u64| HeaderValue {
        key: key.to_owned(),
        value: value.to_string(),
        ..HeaderValue::default()
    };
    vec![
        header(LIMIT_HEADER, limit.requests_per_unit),
        header(REMAINING_HEADER, s.remaining),
        header(RESET_HEADER, s.reset_after_ms.div_ceil(1000)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rls::{RateLimitConfig, Unit};

    fn limited(remaining: u64, rpu: u64, code: RlsCode) -> RlsStatus {
        RlsStatus {
            code,
            limit: Some(RateLimitConfig {
                unit: Unit::Minute,
                requests_per_unit: rpu,
                unlimited: false,
            }),
            policy: Some("rls-p".into()),
            remaining,
            reset_after_ms: 1_500,
            retry_after_ms: 0,
            shadowed: false,
        }
    }

    #[test]
    fn answers_convert_with_the_tightest_headers() {
        let open = RlsStatus {
            code: RlsCode::Ok,
            limit: None,
            policy: None,
            remaining: 0,
            reset_after_ms: 0,
            retry_after_ms: 0,
            shadowed: false,
        };
        let answer = RlsAnswer {
            overall: RlsCode::OverLimit,
            statuses: vec![open, limited(7, 10, RlsCode::Ok), limited(0, 3, RlsCode::OverLimit)],
            degraded: None,
        };
        let r = response_to_proto(&answer, true);
        assert_eq!(r.overall_code, Code::OverLimit as i32);
        assert_eq!(r.statuses[0].current_limit, None);
        assert_eq!(r.statuses[0].code, Code::Ok as i32);
        let s = &r.statuses[1];
        assert_eq!(s.current_limit.as_ref().unwrap().requests_per_unit, 10);
        assert_eq!(s.current_limit.as_ref().unwrap().unit, 2);
        assert_eq!(s.limit_remaining, 7);
        let d = s.duration_until_reset.unwrap();
        assert_eq!((d.seconds, d.nanos), (1, 500_000_000));
        let h: Vec<(&str, &str)> = r
            .response_headers_to_add
            .iter()
            .map(|h| (h.key.as_str(), h.value.as_str()))
            .collect();
        assert_eq!(
            h,
            vec![(LIMIT_HEADER, "3"), (REMAINING_HEADER, "0"), (RESET_HEADER, "2")]
        );
        assert!(response_to_proto(&answer, false).response_headers_to_add.is_empty());
    }
}
