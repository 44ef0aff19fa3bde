//! The sliding-window counter as a pure function of stored counters and a time.
//!
//! This is the same arithmetic as `lua/check.lua` (which is what runs against Redis, with Redis
//! `TIME`); here it serves the in-process `local` failure mode, with the node's clock, and
//! documents the algorithm with exact, clock-free tests.

use ratelimiter_schema::Window;

/// One window's stored state: the fixed-window index and the counts of that window and the one
/// before it (the `w`, `c`, `p` fields of a counter hash).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counter {
    /// Index of the fixed window `current` belongs to.
    pub index: u64,
    /// Cost counted in window `index`.
    pub current: u64,
    /// Cost counted in window `index - 1`.
    pub previous: u64,
}

/// The outcome of one decision over all windows of a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Whether the request is admitted.
    pub allowed: bool,
    /// The reported window (0-based): on a denial the one with the longest wait, otherwise the
    /// one with the least remaining.
    pub reported: usize,
    /// Milliseconds before the same request could be admitted (0 when allowed).
    pub retry_after_ms: u64,
    /// Per window: (remaining after this decision, ms until its fixed window ends).
    pub windows: Vec<(u64, u64)>,
}

impl Outcome {
    /// An admission with `windows` (remaining, reset) per window, reporting the window with the
    /// least remaining.
    pub fn admitted(windows: Vec<(u64, u64)>) -> Self {
        let reported = windows
            .iter()
            .enumerate()
            .min_by_key(|(_, (rem, _))| *rem)
            .map_or(0, |(i, _)| i);
        Self {
            allowed: true,
            reported,
            retry_after_ms: 0,
            windows,
        }
    }
}

/// Decides a request of `cost` at `now_ms` against `counters` (one per window, updated in place
/// when admitted).
pub fn decide(counters: &mut [Counter], windows: &[Window], cost: u64, now_ms: u64) -> Outcome {
    let mut state = Vec::with_capacity(windows.len());
    let mut worst: Option<(usize, u64)> = None;
    for (i, (counter, window)) in counters.iter().zip(windows).enumerate() {
        let win = window.window_ms.max(1);
        let index = now_ms / win;
        let (c, p) = if counter.index == index {
            (counter.current, counter.previous)
        } else if counter.index + 1 == index {
            (0, counter.current)
        } else {
            (0, 0)
        };
        let elapsed = now_ms - index * win;
        let used = p as f64 * (win - elapsed) as f64 / win as f64 + c as f64;
        let limit = window.limit;
        if used + cost as f64 > limit as f64 {
            let wait = if c + cost > limit && c > 0 {
                (win - elapsed) as f64 + (win as f64 * (c + cost - limit) as f64 / c as f64).ceil()
            } else if c + cost > limit {
                (win - elapsed + win) as f64
            } else {
                (win as f64 - (limit - c - cost) as f64 * win as f64 / p as f64 - elapsed as f64)
                    .ceil()
            };
            let wait = wait.max(1.0) as u64;
            if worst.is_none_or(|(_, w)| wait > w) {
                worst = Some((i, wait));
            }
        }
        state.push((index, c, p, used, win - elapsed));
    }
    if let Some((reported, retry_after_ms)) = worst {
        let windows = state
            .iter()
            .zip(windows)
            .map(|(&(_, _, _, used, reset), w)| (floor_remaining(w.limit as f64 - used), reset))
            .collect();
        return Outcome {
            allowed: false,
            reported,
            retry_after_ms,
            windows,
        };
    }
    let mut out = Vec::with_capacity(windows.len());
    for ((counter, &(index, c, p, used, reset)), w) in counters.iter_mut().zip(&state).zip(windows)
    {
        *counter = Counter {
            index,
            current: c + cost,
            previous: p,
        };
        out.push((floor_remaining(w.limit as f64 - used - cost as f64), reset));
    }
    Outcome::admitted(out)
}

fn floor_remaining(v: f64) -> u64 {
    if v <= 0.0 { 0 } else { v.floor() as u64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(limit: u64, window_ms: u64) -> Window {
        Window::new(limit, window_ms)
    }

    fn admitted(
        counters: &mut [Counter],
        windows: &[Window],
        cost: u64,
        now: u64,
        tries: u64,
    ) -> u64 {
        (0..tries)
            .filter(|_| decide(counters, windows, cost, now).allowed)
            .count() as u64
    }

    #[test]
    fn admits_exactly_the_limit_within_one_window() {
        let windows = [w(100, 1000)];
        let mut c = [Counter::default()];
        assert_eq!(admitted(&mut c, &windows, 1, 10_000, 1000), 100);
        let o = decide(&mut c, &windows, 1, 10_500);
        assert!(!o.allowed);
        assert_eq!(o.windows[0], (0, 500));
    }

    #[test]
    fn previous_window_is_weighted_across_the_boundary() {
        let windows = [w(10, 1000)];
        let mut c = [Counter::default()];
        assert_eq!(admitted(&mut c, &windows, 1, 5_000, 20), 10);
        // Halfway through the next window, half of the previous 10 still counts.
        assert_eq!(admitted(&mut c, &windows, 1, 6_500, 20), 5);
        // Two windows later nothing of it counts.
        let mut fresh = [Counter {
            index: 5,
            current: 10,
            previous: 0,
        }];
        assert_eq!(admitted(&mut fresh, &windows, 1, 7_000, 20), 10);
        // Right at the boundary the whole previous window still counts.
        let mut edge = [Counter {
            index: 5,
            current: 10,
            previous: 0,
        }];
        assert_eq!(admitted(&mut edge, &windows, 1, 6_000, 20), 0);
    }

    #[test]
    fn all_windows_must_pass_and_all_are_consumed() {
        let windows = [w(5, 1000), w(8, 60_000)];
        let mut c = [Counter::default(); 2];
        assert_eq!(admitted(&mut c, &windows, 1, 0, 10), 5);
        let o = decide(&mut c, &windows, 1, 500);
        assert!(!o.allowed);
        assert_eq!(o.reported, 0, "the per-second window denies");
        // Next second: at 1900 ms only 5 × 0.1 = 0.5 of the previous second counts, so the 1 s
        // window has room for 4, but the minute window has only 3 left.
        assert_eq!(admitted(&mut c, &windows, 1, 1_900, 10), 3);
        let o = decide(&mut c, &windows, 1, 1_950);
        assert!(!o.allowed);
        assert_eq!(o.reported, 1, "now the per-minute window denies");
        assert!(o.retry_after_ms > 50_000, "{o:?}");
        assert_eq!(c[1].current, 8);
    }

    #[test]
    fn cost_is_consumed_as_a_weight() {
        let windows = [w(10, 1000)];
        let mut c = [Counter::default()];
        assert!(decide(&mut c, &windows, 7, 0).allowed);
        assert!(!decide(&mut c, &windows, 4, 0).allowed, "7 + 4 > 10");
        let o = decide(&mut c, &windows, 3, 0);
        assert!(o.allowed);
        assert_eq!(o.windows[0].0, 0);
    }

    #[test]
    fn retry_after_is_when_the_request_would_pass() {
        let windows = [w(10, 1000)];
        let mut c = [Counter::default()];
        assert_eq!(admitted(&mut c, &windows, 1, 0, 10), 10);
        let o = decide(&mut c, &windows, 1, 200);
        assert!(!o.allowed);
        // Next window starts in 800 ms; then 10 × (1 − e/1000) + 1 ≤ 10 needs e ≥ 100.
        assert_eq!(o.retry_after_ms, 900);
        let mut probe = c;
        assert!(!decide(&mut probe, &windows, 1, 200 + o.retry_after_ms - 1).allowed);
        let mut probe = c;
        assert!(decide(&mut probe, &windows, 1, 200 + o.retry_after_ms).allowed);
    }
}
