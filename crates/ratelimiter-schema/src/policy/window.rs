//! [`Window`]: one limit over one window length, its label, and the rules every policy's
//! windows follow.

use serde::{Deserialize, Serialize};

use crate::error::PolicyError;

/// Most windows one policy may have.
pub const MAX_WINDOWS: usize = 8;
/// Largest limit of a window.
pub const MAX_LIMIT: u64 = 1_000_000_000;
/// Longest window: 7 days (its counters live twice as long).
pub const MAX_WINDOW_MS: u64 = 7 * 24 * 3_600_000;

/// One fixed-length window: at most `limit` units of cost per `window_ms` milliseconds, counted
/// as a sliding window (the previous fixed window's count weighted by how much of it still
/// overlaps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// Units of cost allowed per window.
    pub limit: u64,
    /// Window length in milliseconds.
    pub window_ms: u64,
}

impl Window {
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
/// range, no length twice.
pub(super) fn validate_windows(windows: &[Window]) -> Result<(), PolicyError> {
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
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_labels() {
        assert_eq!(window_label(1000), "1s");
        assert_eq!(window_label(60_000), "1m");
        assert_eq!(window_label(3_600_000), "1h");
        assert_eq!(window_label(1500), "1500ms");
        assert_eq!(window_label(90_000), "90s");
    }
}
