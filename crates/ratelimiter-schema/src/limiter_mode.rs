//! How a node takes its decisions: the exact atomic script, or one of two teaching modes that
//! show why atomicity matters (seed 003's lab). Not to be confused with the
//! [`FailureMode`](crate::FailureMode), which says what a node does while Redis cannot answer.

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use strum::VariantArray as _;

/// How a node decides (`--limiter-mode`). Only [`LimiterMode::Atomic`] is exact; the other two
/// exist to be watched failing and must never run in production.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Default,
    Serialize,
    Deserialize,
    strum::Display,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum LimiterMode {
    /// One Lua script reads, checks and consumes every window in one atomic Redis command:
    /// exact across every node.
    #[default]
    Atomic,
    /// Reads the counters in one call, decides in the node, then increments them in a second
    /// call: between the two, other requests read the same count, so concurrent requests are
    /// admitted past the limit (the check-then-increment race).
    Naive,
    /// Counters in the node's memory only, Redis not asked: each node admits up to the whole
    /// limit by itself, so N nodes admit up to N times it.
    Memory,
}

impl LimiterMode {
    /// The lowercase name used in flags, JSON and metrics labels.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Whether this mode keeps each limit exactly across nodes (only `atomic`).
    pub fn is_exact(self) -> bool {
        self == LimiterMode::Atomic
    }

    /// Why a mode is not exact, in a few words (the cause the operator names); `None` for
    /// `atomic`.
    pub fn flaw(self) -> Option<&'static str> {
        match self {
            LimiterMode::Atomic => None,
            LimiterMode::Naive => Some("non-atomic check-and-increment"),
            LimiterMode::Memory => Some("per-process counters"),
        }
    }
}

/// Error parsing a [`LimiterMode`].
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown limiter mode {0:?} (expected atomic, naive or memory)")]
pub struct ParseLimiterModeError(String);

impl FromStr for LimiterMode {
    type Err = ParseLimiterModeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::VARIANTS
            .iter()
            .copied()
            .find(|mode| mode.as_str() == s)
            .ok_or_else(|| ParseLimiterModeError(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_text_and_json() {
        for &mode in LimiterMode::VARIANTS {
            assert_eq!(mode.as_str().parse::<LimiterMode>().unwrap(), mode);
            let json = serde_json::to_string(&mode).unwrap();
            assert_eq!(json, format!("\"{mode}\""));
            assert_eq!(mode.is_exact(), mode.flaw().is_none());
        }
        assert_eq!(LimiterMode::default(), LimiterMode::Atomic);
        let e = "fast".parse::<LimiterMode>().unwrap_err().to_string();
        assert!(e.contains("atomic, naive or memory"), "{e}");
    }
}
