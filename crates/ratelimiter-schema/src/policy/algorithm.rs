//! [`Algorithm`]: how a policy's windows are counted, and the GCRA parameters of a window.
//!
//! - `sliding_window` (the default): per window, a sliding-window counter (two fixed windows,
//!   the previous one weighted by how much of it still overlaps). At most `limit` per
//!   `window_ms`, estimated.
//! - `gcra`: per window, the generic cell rate algorithm (a token bucket kept as one
//!   *theoretical arrival time*, `tat`). `limit` per `window_ms` is the steady rate, one unit
//!   every `T = window_ms / limit`; `burst` (default: the limit) is the capacity. A request of
//!   cost `c` at time `now` is admitted when `max(tat, now) + c·T − now ≤ burst·T`, and then
//!   `tat` becomes `max(tat, now) + c·T`. Over any stretch of `window_ms` a client can get up to
//!   `burst + limit − 1` (a full bucket, then the refill), not `limit`.
//!
//! Changing a policy's algorithm starts its keys afresh: the two keep their state under
//! different Redis keys ([`crate::keys`]). The GCRA parameters of a window are
//! [`super::GcraParams`].

use serde::{Deserialize, Serialize};

/// How the windows of a policy are counted (`"algorithm"` of a policy; absent means
/// `sliding_window`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    /// A sliding-window counter per window (`"sliding_window"`).
    #[default]
    SlidingWindow,
    /// The generic cell rate algorithm, a token bucket per window (`"gcra"`).
    Gcra,
}

impl Algorithm {
    /// Whether this is the default (`sliding_window`): it is then left out of the JSON, so a
    /// policy written before algorithms existed serializes (and digests) as it always did.
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// The name as JSON and TOML write it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::SlidingWindow => "sliding_window",
            Self::Gcra => "gcra",
        }
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_algorithm_is_left_out_of_json() {
        assert!(Algorithm::SlidingWindow.is_default());
        assert_eq!(serde_json::to_value(Algorithm::Gcra).unwrap(), "gcra");
        let bad = serde_json::from_str::<Algorithm>("\"token_bucket\"").unwrap_err();
        assert!(bad.to_string().contains("sliding_window"), "{bad}");
    }
}
