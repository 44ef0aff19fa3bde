//! [`Window`]: one limit over one window length, its label, and the rules every policy's
//! windows follow.

use serde::{Deserialize, Serialize};

use super::algorithm::Algorithm;

use crate::error::PolicyError;

/// Most windows one policy may have.
pub const MAX_WINDOWS: usize = 8;
/// Largest limit of a window.
pub const MAX_LIMIT: u64 = 1_000_000_000;
/// Longest window: 7 days (its counters live twice as long).
pub const MAX_WINDOW_MS: u64 = 7 * 24 * 3_600_000;

/// One fixed-length window: at most `limit` units of cost per `window_ms` milliseconds. Under the
/// `sliding_window` algorithm it is counted as a sliding window (the previous fixed window's
/// count weighted by how much of it still overlaps); under `gcra` it is the steady rate of a
/// token bucket of capacity `burst` ([`super::algorithm`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// Units of cost allowed per window.
    pub limit: u64,
    /// Window length in milliseconds.
    pub window_ms: u64,
    /// The bucket's capacity under `gcra` (absent: the limit); refused under `sliding_window`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u64>,
}

impl Window {
    /// `limit` per `window_ms`, no burst of its own.
    pub const fn new(limit: u64, window_ms: u64) -> Self {
        Self {
            limit,
            window_ms,
            burst: None,
        }
    }

    /// The same window with capacity `burst` (for `gcra`).
    #[must_use]
    pub const fn with_burst(mut self, burst: u64) -> Self {
        self.burst = Some(burst);
        self
    }

    /// Its GCRA parameters (meaningful under `gcra`).
    pub fn gcra(&self) -> GcraParams {
        GcraParams::of(self)
    }

    /// The most cost the window can admit at once: `burst` when set, else the limit.
    pub fn capacity(&self) -> u64 {
        self.burst.unwrap_or(self.limit)
    }

    /// A short label for the window: `1s`, `5m`, `1h`, `1500ms`.
    pub fn label(&self) -> String {
        window_label(self.window_ms)
    }
}

/// A label for a window length: whole hours as `Nh`, minutes as `Nm`, seconds as `Ns`, else `Nms`.
pub fn window_label(window_ms: u64) -> String {
    match window_ms {
        0 => "0ms".to_owned(),
        ms if ms % 3_600_000 == 0 => format!("{}h", ms / 3_600_000),
        ms if ms % 60_000 == 0 => format!("{}m", ms / 60_000),
        ms if ms % 1_000 == 0 => format!("{}s", ms / 1_000),
        ms => format!("{ms}ms"),
    }
}

/// Checks a policy's windows: at least one, at most [`MAX_WINDOWS`], each limit and length in
/// range, no length twice; a `burst` only under `gcra`, at least 1, and refilling within
/// [`MAX_WINDOW_MS`] (`burst × window_ms / limit`).
pub(super) fn validate_windows(
    windows: &[Window],
    algorithm: Algorithm,
) -> Result<(), PolicyError> {
    if windows.is_empty() {
        return Err(PolicyError::NoWindows);
    }
    if windows.len() > MAX_WINDOWS {
        return Err(PolicyError::TooManyWindows {
            max: MAX_WINDOWS,
            got: windows.len(),
        });
    }
    for (i, w) in windows.iter().enumerate() {
        if w.limit == 0 || w.limit > MAX_LIMIT {
            return Err(PolicyError::InvalidLimit {
                max: MAX_LIMIT,
                got: w.limit,
            });
        }
        if w.window_ms == 0 || w.window_ms > MAX_WINDOW_MS {
            return Err(PolicyError::InvalidWindow {
                max: MAX_WINDOW_MS,
                got: w.window_ms,
            });
        }
        if windows[..i].iter().any(|o| o.window_ms == w.window_ms) {
            return Err(PolicyError::DuplicateWindow(w.window_ms));
        }
        validate_burst(w, algorithm)?;
    }
    Ok(())
}

fn validate_burst(w: &Window, algorithm: Algorithm) -> Result<(), PolicyError> {
    let Some(burst) = w.burst else {
        return Ok(());
    };
    if algorithm != Algorithm::Gcra {
        return Err(PolicyError::BurstWithoutGcra(w.window_ms));
    }
    if burst == 0 || burst > MAX_LIMIT {
        return Err(PolicyError::InvalidBurst {
            max: MAX_LIMIT,
            got: burst,
        });
    }
    // The refill time of a full bucket bounds the key's TTL and keeps µs times exact in Lua.
    let refill = u128::from(burst) * u128::from(w.window_ms);
    if refill > u128::from(MAX_WINDOW_MS) * u128::from(w.limit) {
        return Err(PolicyError::BurstTooLarge {
            window_ms: w.window_ms,
            max_ms: MAX_WINDOW_MS,
        });
    }
    Ok(())
}

/// The GCRA parameters of one window, in microseconds (Redis `TIME` resolution).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcraParams {
    /// Emission interval `T`: `window_ms × 1000 / limit` µs, rounded **up** so the steady rate
    /// is never above `limit` per `window_ms` (at most 1 µs per unit slower; 1 µs when the
    /// limit exceeds the window in µs).
    pub interval_us: u64,
    /// Tolerance `tau = burst × T`: how far ahead of now `tat` may run, i.e. the time a full
    /// bucket takes to refill from empty.
    pub tau_us: u64,
    /// The capacity (`burst`, or the limit when absent).
    pub burst: u64,
}

impl GcraParams {
    /// The parameters of `window`.
    pub fn of(window: &Window) -> Self {
        let burst = window.capacity();
        let interval_us = window
            .window_ms
            .saturating_mul(1000)
            .div_ceil(window.limit.max(1))
            .max(1);
        Self {
            interval_us,
            tau_us: burst.saturating_mul(interval_us),
            burst,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_exact_microseconds_rounded_up() {
        let w = Window::new(100, 600_000);
        assert_eq!(
            GcraParams::of(&w),
            GcraParams {
                interval_us: 6_000_000,
                tau_us: 600_000_000,
                burst: 100
            }
        );
        let odd = GcraParams::of(&Window::new(7, 1000).with_burst(3));
        assert_eq!(odd.interval_us, 142_858, "1 s / 7 rounded up");
        assert_eq!(odd.tau_us, 3 * 142_858);
        assert_eq!(GcraParams::of(&Window::new(1_000_000, 1)).interval_us, 1);
    }

    #[test]
    fn window_labels() {
        assert_eq!(window_label(1000), "1s");
        assert_eq!(window_label(60_000), "1m");
        assert_eq!(window_label(3_600_000), "1h");
        assert_eq!(window_label(1500), "1500ms");
        assert_eq!(window_label(90_000), "90s");
    }
}
