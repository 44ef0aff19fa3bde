//! The generic cell rate algorithm (GCRA) as a pure function of stored arrival times and a time.
//!
//! The same arithmetic as `lua/gcra.lua` (which is what runs against Redis, with Redis `TIME`);
//! here it serves the in-process limiters (the `local` failure mode, the memory guard) with the
//! node's clock, and pins the algorithm down with exact, clock-free tests.
//!
//! Per window, `T` is the emission interval and `tau = burst × T`
//! ([`GcraParams`](ratelimiter_schema::policy::GcraParams)); the state is one theoretical
//! arrival time `tat` (µs). Cost `c` at `now` is admitted iff `max(tat, now) + c·T − now ≤ tau`
//! for every window; then every `tat` becomes `max(tat, now) + c·T`. A denial's wait is
//! `max(tat, now) + c·T − tau − now` for the worst window. The answer has the shape of the
//! sliding window's ([`Outcome`]): per window, the whole units left (`(tau − (tat − now)) / T`)
//! and the time until the bucket is full again (`tat − now`).

use ratelimiter_schema::Window;

use crate::algorithm::Outcome;

/// Decides a request of `cost` at `now_us` against `tats` (one theoretical arrival time per
/// window, Unix µs, 0 for none; updated in place when admitted).
pub fn decide(tats: &mut [u64], windows: &[Window], cost: u64, now_us: u64) -> Outcome {
    let mut state = Vec::with_capacity(windows.len());
    let mut worst: Option<(usize, u64)> = None;
    for (i, (tat, window)) in tats.iter().zip(windows).enumerate() {
        let p = window.gcra();
        let base = (*tat).max(now_us);
        let next = base.saturating_add(cost.saturating_mul(p.interval_us));
        if next - now_us > p.tau_us {
            let wait = ms_up(next - p.tau_us - now_us).max(1);
            if worst.is_none_or(|(_, w)| wait > w) {
                worst = Some((i, wait));
            }
        }
        state.push((p, base, next));
    }
    let left = |p: &ratelimiter_schema::policy::GcraParams, tat: u64| {
        (
            p.tau_us.saturating_sub(tat - now_us) / p.interval_us,
            ms_up(tat - now_us),
        )
    };
    if let Some((reported, retry_after_ms)) = worst {
        return Outcome {
            allowed: false,
            reported,
            retry_after_ms,
            windows: state.iter().map(|(p, base, _)| left(p, *base)).collect(),
        };
    }
    let mut out = Vec::with_capacity(windows.len());
    for (tat, (p, _, next)) in tats.iter_mut().zip(&state) {
        *tat = *next;
        out.push(left(p, *next));
    }
    Outcome::admitted(out)
}

/// Microseconds to whole milliseconds, rounded up.
fn ms_up(us: u64) -> u64 {
    us.div_ceil(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000;
    /// An arbitrary start, so that "no tat yet" (0) is far in the past.
    const T0: u64 = 1_700_000_000 * S;

    fn admitted(tats: &mut [u64], windows: &[Window], cost: u64, now: u64, tries: u64) -> u64 {
        (0..tries)
            .filter(|_| decide(tats, windows, cost, now).allowed)
            .count() as u64
    }

    #[test]
    fn the_issue_policy_admits_the_burst_then_one_every_six_seconds() {
        let windows = [Window::new(100, 600_000)];
        let mut t = [0];
        assert_eq!(admitted(&mut t, &windows, 1, T0, 1000), 100);
        let o = decide(&mut t, &windows, 1, T0);
        assert!(!o.allowed);
        assert_eq!(o.retry_after_ms, 6_000, "one unit drips back every 6 s");
        assert_eq!(o.windows[0], (0, 600_000), "empty, full again in 10 min");
        assert_eq!(admitted(&mut t, &windows, 1, T0 + 6 * S - 1, 10), 0);
        assert_eq!(admitted(&mut t, &windows, 1, T0 + 6 * S, 10), 1);
        assert_eq!(admitted(&mut t, &windows, 1, T0 + 18 * S, 10), 2);
    }

    #[test]
    fn over_any_window_a_client_gets_at_most_burst_plus_limit_minus_one() {
        let windows = [Window::new(10, 1000).with_burst(4)];
        let mut t = [0];
        let mut got = 0;
        // Try every millisecond of one window, starting with a full bucket.
        for ms in 0..1000 {
            got += admitted(&mut t, &windows, 1, T0 + ms * 1000, 100);
        }
        assert_eq!(got, 4 + 10 - 1);
    }

    #[test]
    fn every_window_must_admit_and_all_are_consumed() {
        let windows = [Window::new(5, 1000), Window::new(8, 60_000)];
        let mut t = [0, 0];
        assert_eq!(admitted(&mut t, &windows, 1, T0, 10), 5);
        let o = decide(&mut t, &windows, 1, T0);
        assert!(!o.allowed);
        assert_eq!((o.reported, o.retry_after_ms), (0, 200));
        // One second later the first bucket is full again, the minute one has 3 left.
        assert_eq!(admitted(&mut t, &windows, 1, T0 + S, 10), 3);
        let o = decide(&mut t, &windows, 1, T0 + S);
        assert!(!o.allowed);
        assert_eq!(o.reported, 1, "now the per-minute window denies");
        // 3 × 7.5 s past 37.5 s of 60 s: 66.5 s ahead with one more, 6.5 s over the burst.
        assert_eq!(o.retry_after_ms, 6_500);
        assert_eq!(o.windows[1].0, 0);
    }

    #[test]
    fn cost_takes_that_many_units_and_a_denial_takes_none() {
        let windows = [Window::new(10, 1000)];
        let mut t = [0];
        assert!(decide(&mut t, &windows, 7, T0).allowed);
        let before = t;
        let o = decide(&mut t, &windows, 4, T0);
        assert!(!o.allowed, "7 + 4 > 10");
        assert_eq!(t, before, "a denial changes nothing");
        assert_eq!(o.retry_after_ms, 100, "one unit short, 100 ms per unit");
        let o = decide(&mut t, &windows, 3, T0);
        assert!(o.allowed);
        assert_eq!(o.windows[0], (0, 1000));
    }

    #[test]
    fn retry_after_is_exactly_when_the_request_would_pass() {
        let windows = [Window::new(3, 1000).with_burst(2)];
        let mut t = [0];
        assert_eq!(admitted(&mut t, &windows, 1, T0, 5), 2);
        let o = decide(&mut t, &windows, 1, T0 + 1000);
        assert!(!o.allowed);
        let at = T0 + 1000 + o.retry_after_ms * 1000;
        let mut probe = t;
        assert!(!decide(&mut probe, &windows, 1, at - 1000).allowed);
        let mut probe = t;
        assert!(decide(&mut probe, &windows, 1, at).allowed);
    }
}
