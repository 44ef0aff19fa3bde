//! What a node does when Redis cannot answer.

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use strum::VariantArray as _;

/// What a node decides while Redis is down, slower than its timeout, or not yet reachable.
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
pub enum FailureMode {
    /// Allow every request (availability first).
    Open,
    /// Deny every request with 503 (protection first).
    Closed,
    /// Enforce each policy in process at this node's share of the limit (limit divided by the
    /// number of nodes that are Up).
    #[default]
    Local,
}

impl FailureMode {
    /// The lowercase name used in flags, JSON and metrics labels.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Error parsing a [`FailureMode`].
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown failure mode {0:?} (expected open, closed or local)")]
pub struct ParseFailureModeError(String);

impl FromStr for FailureMode {
    type Err = ParseFailureModeError;

    // By hand rather than strum's `EnumString`, for an error that lists the modes (clap shows it).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::VARIANTS
            .iter()
            .copied()
            .find(|mode| mode.as_str() == s)
            .ok_or_else(|| ParseFailureModeError(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use strum::VariantArray as _;

    use super::*;

    #[test]
    fn round_trips_through_text_and_json() {
        for &mode in FailureMode::VARIANTS {
            assert_eq!(mode.as_str().parse::<FailureMode>().unwrap(), mode);
            let json = serde_json::to_string(&mode).unwrap();
            assert_eq!(json, format!("\"{mode}\""));
        }
        assert!("sideways".parse::<FailureMode>().is_err());
    }
}
