//! The abuse limits: a plain struct with defaults, validated once with the node's [`Config`].
//!
//! [`Config`]: crate::Config

use std::time::Duration;

/// Default `--enumeration-limit`: distinct API keys one client address may use per minute.
/// A real client uses one key, a gateway a handful; 100 leaves room for a NAT of many users
/// while a guesser is stopped within its first second.
pub const DEFAULT_ENUMERATION_LIMIT: u64 = 100;

/// Default `--enumeration-block`: 10 minutes.
pub const DEFAULT_ENUMERATION_BLOCK: Duration = Duration::from_secs(600);

/// Default `--memory-guard-ratio`: the guard turns on above 80 % of Redis `maxmemory`.
pub const DEFAULT_MEMORY_GUARD_RATIO: f64 = 0.8;

/// Longest block accepted (a day): a block is a brake, not a ban list.
const MAX_BLOCK: Duration = Duration::from_secs(24 * 3600);

/// Abuse protection of the decision endpoints. See `docs/ABUSE.md`.
#[derive(Debug, Clone, PartialEq)]
pub struct AbuseConfig {
    /// Distinct API keys per client address per minute on `/api/request` before the client is
    /// blocked; 0 turns enumeration blocking off.
    pub enumeration_limit: u64,
    /// How long a client stays blocked (enumeration and honeypot).
    pub enumeration_block: Duration,
    /// Honeypot API keys, as values or fingerprints (`fp-...`, `api:fp-...`): using one blocks
    /// the client at once.
    pub honeypot_keys: Vec<String>,
    /// Share of Redis `maxmemory` above which keys without a counter are limited in process
    /// (0: off; at most 1).
    pub memory_guard_ratio: f64,
    /// How often Redis memory and clock are sampled (in the background).
    pub sample_interval: Duration,
}

impl Default for AbuseConfig {
    fn default() -> Self {
        Self {
            enumeration_limit: DEFAULT_ENUMERATION_LIMIT,
            enumeration_block: DEFAULT_ENUMERATION_BLOCK,
            honeypot_keys: Vec::new(),
            memory_guard_ratio: DEFAULT_MEMORY_GUARD_RATIO,
            sample_interval: Duration::from_millis(250),
        }
    }
}

/// A bad abuse setting.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AbuseConfigError {
    /// `--enumeration-block` out of range.
    #[error("--enumeration-block must be between 1s and 24h, got {0:?}")]
    Block(Duration),
    /// `--memory-guard-ratio` out of range.
    #[error("--memory-guard-ratio must be between 0 (off) and 1, got {0}")]
    Ratio(f64),
    /// An empty or non-printable honeypot key.
    #[error("--honeypot-keys: each key must be non-empty visible ASCII, got {0:?}")]
    Honeypot(String),
}

impl AbuseConfig {
    /// Checks every field.
    ///
    /// # Errors
    /// The first [`AbuseConfigError`] found.
    pub fn validate(&self) -> Result<(), AbuseConfigError> {
        let block = self.enumeration_block;
        if block < Duration::from_secs(1) || block > MAX_BLOCK {
            return Err(AbuseConfigError::Block(block));
        }
        let r = self.memory_guard_ratio;
        if !r.is_finite() || !(0.0..=1.0).contains(&r) {
            return Err(AbuseConfigError::Ratio(r));
        }
        for k in &self.honeypot_keys {
            if k.is_empty() || !k.bytes().all(|b| b.is_ascii_graphic()) {
                // Do not echo a would-be secret: its length says enough.
                return Err(AbuseConfigError::Honeypot(format!("<{} bytes>", k.len())));
            }
        }
        Ok(())
    }
}

/// Splits a `--honeypot-keys` value on commas, dropping empty entries and spaces around them.
pub fn parse_honeypot_keys(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_refused() {
        AbuseConfig::default().validate().unwrap();
        let bad = [
            AbuseConfig {
                enumeration_block: Duration::from_millis(10),
                ..AbuseConfig::default()
            },
            AbuseConfig {
                memory_guard_ratio: 1.5,
                ..AbuseConfig::default()
            },
            AbuseConfig {
                memory_guard_ratio: f64::NAN,
                ..AbuseConfig::default()
            },
            AbuseConfig {
                honeypot_keys: vec!["a b".into()],
                ..AbuseConfig::default()
            },
        ];
        for c in bad {
            assert!(c.validate().is_err(), "{c:?}");
        }
        let e = AbuseConfig {
            honeypot_keys: vec!["sk live".into()],
            ..AbuseConfig::default()
        }
        .validate()
        .unwrap_err();
        assert!(!e.to_string().contains("sk live"), "{e}");
    }

    #[test]
    fn honeypot_lists_split_on_commas() {
        assert_eq!(parse_honeypot_keys(" a, b,,fp-x "), vec!["a", "b", "fp-x"]);
        assert!(parse_honeypot_keys("").is_empty());
    }
}
