//! Rate-limit response headers: the IETF `RateLimit-Policy` and `RateLimit` fields
//! (draft-ietf-httpapi-ratelimit-headers-11, structured-field lists), the de-facto `X-RateLimit-*`
//! trio, and `Retry-After` on denials.
//!
//! Each window of a policy is one list item named `"<policy>/<window label>"`, for example
//! `RateLimit-Policy: "login/1s";q=5;w=1, "login/1h";q=100;w=3600` and
//! `RateLimit: "login/1s";r=4;t=1, "login/1h";r=99;t=3600`. `w` and `t` are whole seconds,
//! rounded up. `X-RateLimit-Limit`/`-Remaining`/`-Reset` describe the reported window (the
//! denying one, or the one with the least remaining); `X-RateLimit-Reset` is in seconds from now.
//!
//! Under a `gcra` policy (a token bucket per window) the same fields mean: `q` (and
//! `X-RateLimit-Limit`) the bucket's capacity, the `burst`; `w` still the window whose `limit`
//! is the refill rate; `r` the whole units left in the bucket; `t` (and `X-RateLimit-Reset`) the
//! seconds until the bucket is full again, not until a window ends. A client may therefore get
//! `burst + limit − 1` within one `w`: a full bucket, then the refill.

use std::fmt::Write as _;

use ratelimiter_schema::policy::window_label;

use crate::decide::Decision;

/// The header lines for `decision`, as (name, value) pairs.
pub fn rate_limit_headers(decision: &Decision) -> Vec<(&'static str, String)> {
    let mut policy = String::new();
    let mut state = String::new();
    for (i, w) in decision.windows.iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        let name = format!("\"{}/{}\"", decision.policy.name, window_label(w.window_ms));
        let (remaining, reset_ms) = decision.outcome.windows.get(i).copied().unwrap_or((0, 0));
        let _ = write!(
            policy,
            "{sep}{name};q={};w={}",
            decision.quota(w),
            ceil_secs(w.window_ms).max(1)
        );
        let _ = write!(state, "{sep}{name};r={remaining};t={}", ceil_secs(reset_ms));
    }
    let reported = decision.reported();
    let mut out = vec![
        ("ratelimit-policy", policy),
        ("ratelimit", state),
        (
            "x-ratelimit-limit",
            decision.quota(&reported.window).to_string(),
        ),
        ("x-ratelimit-remaining", reported.remaining.to_string()),
        (
            "x-ratelimit-reset",
            ceil_secs(reported.reset_after_ms).to_string(),
        ),
    ];
    if !decision.outcome.allowed {
        out.push((
            "retry-after",
            ceil_secs(decision.outcome.retry_after_ms)
                .max(1)
                .to_string(),
        ));
    }
    out
}

fn ceil_secs(ms: u64) -> u64 {
    ms.div_ceil(1000)
}

#[cfg(test)]
mod tests {
    use ratelimiter_schema::{Policy, Window};

    use super::*;
    use crate::algorithm::Outcome;

    fn decision(allowed: bool, reported: usize, retry: u64) -> Decision {
        let windows = vec![Window::new(5, 1000), Window::new(100, 3_600_000)];
        Decision {
            policy: Policy {
                algorithm: Default::default(),
                name: "login".into(),
                pattern: "login:*".into(),
                windows: windows.clone(),
            },
            windows,
            outcome: Outcome {
                allowed,
                reported,
                retry_after_ms: retry,
                windows: vec![(0, 250), (95, 1_800_001)],
            },
            degraded: None,
            cached: None,
        }
    }

    #[test]
    fn formats_ietf_and_x_headers() {
        let h = rate_limit_headers(&decision(false, 0, 1_200));
        let get = |n: &str| h.iter().find(|(k, _)| *k == n).map(|(_, v)| v.as_str());
        assert_eq!(
            get("ratelimit-policy"),
            Some("\"login/1s\";q=5;w=1, \"login/1h\";q=100;w=3600")
        );
        assert_eq!(
            get("ratelimit"),
            Some("\"login/1s\";r=0;t=1, \"login/1h\";r=95;t=1801")
        );
        assert_eq!(get("x-ratelimit-limit"), Some("5"));
        assert_eq!(get("x-ratelimit-remaining"), Some("0"));
        assert_eq!(get("x-ratelimit-reset"), Some("1"));
        assert_eq!(get("retry-after"), Some("2"));
    }

    #[test]
    fn no_retry_after_when_allowed_and_sub_second_windows_round_up() {
        let mut d = decision(true, 1, 0);
        assert!(
            rate_limit_headers(&d)
                .iter()
                .all(|(k, _)| *k != "retry-after")
        );
        d.windows[0].window_ms = 250;
        let h = rate_limit_headers(&d);
        assert!(h[0].1.starts_with("\"login/250ms\";q=5;w=1,"), "{}", h[0].1);
        assert_eq!(h[2].1, "100", "the reported window is the second");
    }

    #[test]
    fn gcra_headers_count_down_from_the_burst() {
        let mut d = decision(true, 0, 0);
        d.policy.algorithm = ratelimiter_schema::Algorithm::Gcra;
        d.windows[0] = Window::new(5, 1000).with_burst(2);
        d.outcome.windows[0] = (1, 500);
        let h = rate_limit_headers(&d);
        assert_eq!(h[0].1, "\"login/1s\";q=2;w=1, \"login/1h\";q=100;w=3600");
        assert_eq!(h[1].1, "\"login/1s\";r=1;t=1, \"login/1h\";r=95;t=1801");
        assert_eq!(h[2].1, "2");
    }
}
