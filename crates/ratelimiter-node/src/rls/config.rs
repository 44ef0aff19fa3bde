//! envoyproxy/ratelimit's YAML configuration: one file per domain, parsed strictly so that a bad
//! file is refused with a message naming its line (and the last good one is kept by the caller).
//!
//! ```yaml
//! domain: api
//! descriptors:
//!   - key: remote_address          # no value: each address is limited separately
//!     rate_limit: { unit: second, requests_per_unit: 10 }
//!   - key: path
//!     value: /login
//!     shadow_mode: true
//!     rate_limit: { unit: minute, requests_per_unit: 5 }
//!     descriptors:                 # nested: matches [path=/login, user=<any>]
//!       - key: user
//!         detailed_metric: true
//!         rate_limit: { unit: hour, requests_per_unit: 100 }
//! ```
//!
//! Supported: `domain`, `descriptors` (nested), `key`, `value`, `rate_limit` with `unit`
//! (`second`, `minute`, `hour`, `day`), `requests_per_unit`, `unlimited` and `name` (accepted,
//! unused), `shadow_mode`, `detailed_metric`. Refused with a message: any other field
//! (`replaces`, `quota_mode`, ...), `week`/`month`/`year` units, `value` wildcards (`prefix*`),
//! duplicate `key`/`value` pairs on one level, a `rate_limit` without `requests_per_unit` that is
//! not `unlimited`.

use std::collections::HashSet;
use std::fmt;

use serde::Deserialize;

use crate::rls::error::RlsConfigError;

/// Longest domain name, in bytes.
pub const MAX_DOMAIN_BYTES: usize = 128;
/// Deepest nesting of descriptors.
pub const MAX_DEPTH: usize = 8;

/// One file: a domain and its descriptor tree.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainConfig {
    /// The domain (`RateLimitRequest.domain`); every domain keeps its counters apart.
    pub domain: String,
    /// The top level of the descriptor tree.
    #[serde(default)]
    pub descriptors: DescriptorList,
}

/// One level of the tree, checked for duplicate `key`/`value` pairs while it is parsed (so the
/// error carries the line of the list).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescriptorList(pub Vec<DescriptorConfig>);

impl<'de> Deserialize<'de> for DescriptorList {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = DescriptorList;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of descriptors")
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let mut list: Vec<DescriptorConfig> = Vec::new();
                let mut seen = HashSet::new();
                while let Some(d) = seq.next_element::<DescriptorConfig>()? {
                    if !seen.insert((d.key.clone(), d.value.clone())) {
                        let what = match &d.value {
                            Some(v) => format!("key {:?} with value {v:?}", d.key),
                            None => format!("key {:?} without a value", d.key),
                        };
                        return Err(serde::de::Error::custom(format!(
                            "duplicate descriptor: {what} appears twice on one level"
                        )));
                    }
                    list.push(d);
                }
                Ok(DescriptorList(list))
            }
        }
        deserializer.deserialize_seq(Visitor)
    }
}

/// One node of the tree.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, try_from = "RawDescriptor")]
pub struct DescriptorConfig {
    /// The entry key it matches.
    pub key: String,
    /// The entry value it matches; `None`: any value, each value limited separately.
    pub value: Option<String>,
    /// The limit of descriptors that end here.
    pub rate_limit: Option<RateLimitConfig>,
    /// Decide and count, but never deny (reported as `shadow_mode` in the metrics).
    pub shadow_mode: bool,
    /// Metrics per value (as fingerprints), not only per key.
    pub detailed_metric: bool,
    /// Longer descriptors that start with this entry.
    pub descriptors: DescriptorList,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDescriptor {
    key: String,
    value: Option<String>,
    rate_limit: Option<RawRateLimit>,
    #[serde(default)]
    shadow_mode: bool,
    #[serde(default)]
    detailed_metric: bool,
    #[serde(default)]
    descriptors: DescriptorList,
}

impl TryFrom<RawDescriptor> for DescriptorConfig {
    type Error = String;

    fn try_from(raw: RawDescriptor) -> Result<Self, Self::Error> {
        if raw.key.is_empty() {
            return Err("descriptor key must not be empty".into());
        }
        if let Some(v) = &raw.value
            && v.ends_with('*')
        {
            return Err(format!(
                "descriptor {:?}: value wildcards ({v:?}) are not supported; omit `value` to \
                 limit each value separately",
                raw.key
            ));
        }
        let rate_limit = raw
            .rate_limit
            .map(|r| r.validate(&raw.key))
            .transpose()?;
        Ok(Self {
            key: raw.key,
            value: raw.value,
            rate_limit,
            shadow_mode: raw.shadow_mode,
            detailed_metric: raw.detailed_metric,
            descriptors: raw.descriptors,
        })
    }
}

/// A limit: `requests_per_unit` per `unit`, or `unlimited`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// The window.
    pub unit: Unit,
    /// Requests (hits) per window; 0 when `unlimited`.
    pub requests_per_unit: u64,
    /// Never limited (the descriptor is still matched and counted).
    pub unlimited: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRateLimit {
    unit: Option<Unit>,
    requests_per_unit: Option<u64>,
    #[serde(default)]
    unlimited: bool,
    /// Accepted for compatibility; our policies are named after the descriptor path.
    #[serde(default)]
    #[allow(dead_code)]
    name: Option<String>,
}

impl RawRateLimit {
    fn validate(self, key: &str) -> Result<RateLimitConfig, String> {
        if self.unlimited {
            return Ok(RateLimitConfig {
                unit: self.unit.unwrap_or(Unit::Second),
                requests_per_unit: 0,
                unlimited: true,
            });
        }
        let unit = self
            .unit
            .ok_or_else(|| format!("descriptor {key:?}: rate_limit needs a `unit`"))?;
        let max = ratelimiter_schema::policy::MAX_LIMIT;
        match self.requests_per_unit {
            Some(n) if (1..=max).contains(&n) => Ok(RateLimitConfig {
                unit,
                requests_per_unit: n,
                unlimited: false,
            }),
            Some(n) => Err(format!(
                "descriptor {key:?}: requests_per_unit must be between 1 and {max}, got {n}"
            )),
            None => Err(format!(
                "descriptor {key:?}: rate_limit needs `requests_per_unit` (or `unlimited: true`)"
            )),
        }
    }
}

/// The unit of a limit: the length of its sliding window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// 1 s.
    Second,
    /// 60 s.
    Minute,
    /// 3600 s.
    Hour,
    /// 86400 s.
    Day,
}

impl Unit {
    /// The window length in ms.
    pub fn window_ms(self) -> u64 {
        match self {
            Unit::Second => 1_000,
            Unit::Minute => 60_000,
            Unit::Hour => 3_600_000,
            Unit::Day => 86_400_000,
        }
    }

    /// The `RateLimitResponse.RateLimit.Unit` number of Envoy's API.
    pub fn proto(self) -> i32 {
        match self {
            Unit::Second => 1,
            Unit::Minute => 2,
            Unit::Hour => 3,
            Unit::Day => 4,
        }
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unit::Second => "second",
            Unit::Minute => "minute",
            Unit::Hour => "hour",
            Unit::Day => "day",
        })
    }
}

impl DomainConfig {
    /// Parses and checks one file's text (`origin` names it in errors).
    ///
    /// # Errors
    /// [`RlsConfigError::Yaml`] with the line and column of the first problem, or
    /// [`RlsConfigError::Invalid`] for a rule broken by the whole file (an empty domain, too
    /// deep a tree).
    pub fn from_yaml(origin: &str, text: &str) -> Result<Self, RlsConfigError> {
        let config: DomainConfig =
            serde_yaml::from_str(text).map_err(|e| RlsConfigError::Yaml {
                origin: origin.to_owned(),
                line: e.location().map(|l| l.line()),
                detail: e.to_string(),
            })?;
        let invalid = |detail: String| RlsConfigError::Invalid {
            origin: origin.to_owned(),
            detail,
        };
        if config.domain.is_empty() || config.domain.len() > MAX_DOMAIN_BYTES {
            return Err(invalid(format!(
                "domain must be 1 to {MAX_DOMAIN_BYTES} bytes, got {:?}",
                config.domain
            )));
        }
        if depth(&config.descriptors) > MAX_DEPTH {
            return Err(invalid(format!(
                "descriptors are nested deeper than {MAX_DEPTH} levels"
            )));
        }
        Ok(config)
    }
}

fn depth(list: &DescriptorList) -> usize {
    list.0
        .iter()
        .map(|d| 1 + depth(&d.descriptors))
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
domain: api
descriptors:
  - key: remote_address
    rate_limit:
      unit: second
      requests_per_unit: 10
  - key: path
    value: /login
    shadow_mode: true
    rate_limit: { unit: minute, requests_per_unit: 5, name: login }
    descriptors:
      - key: user
        detailed_metric: true
        rate_limit: { unit: hour, requests_per_unit: 100 }
  - key: health
    rate_limit: { unlimited: true }
";

    #[test]
    fn a_full_file_parses() {
        let c = DomainConfig::from_yaml("t", GOOD).unwrap();
        assert_eq!(c.domain, "api");
        let d = &c.descriptors.0;
        assert_eq!(d.len(), 3);
        assert_eq!(d[0].value, None);
        assert_eq!(d[0].rate_limit.unwrap().requests_per_unit, 10);
        assert!(d[1].shadow_mode);
        assert_eq!(d[1].rate_limit.unwrap().unit, Unit::Minute);
        let user = &d[1].descriptors.0[0];
        assert!(user.detailed_metric);
        assert_eq!(user.rate_limit.unwrap().unit.window_ms(), 3_600_000);
        assert!(d[2].rate_limit.unwrap().unlimited);
    }

    #[test]
    fn bad_files_name_their_line() {
        let cases = [
            ("domain: a\ndescriptors:\n  - key: k\n    rate_limit: { unit: week, requests_per_unit: 1 }\n", 4, "week"),
            ("domain: a\ndescriptors:\n  - key: k\n    replaces: []\n", 3, "replaces"),
            ("domain: a\ndescriptors:\n  - key: k\n    rate_limit:\n      unit: second\n", 3, "requests_per_unit"),
            ("domain: a\ndescriptors:\n  - key: k\n    rate_limit: { unit: second, requests_per_unit: 0 }\n", 3, "between 1"),
            ("domain: a\ndescriptors:\n  - key: k\n  - key: k\n", 3, "duplicate"),
            ("domain: a\ndescriptors:\n  - key: k\n    value: ab*\n", 3, "wildcard"),
            ("domain: a\ndescriptors: [\n", 3, ""),
            ("domain: [1\n", 1, "sequence"),
        ];
        for (text, line, word) in cases {
            let e = DomainConfig::from_yaml("f.yaml", text).unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains(word), "{text:?}: {msg}");
            match e {
                RlsConfigError::Yaml { line: Some(l), .. } => {
                    assert!(l + 1 >= line && l <= line + 1, "{text:?}: line {l}: {msg}");
                }
                other => panic!("{text:?}: {other}"),
            }
            assert!(msg.contains("f.yaml") && msg.contains("line"), "{msg}");
        }
    }

    #[test]
    fn whole_file_rules_are_checked() {
        assert!(DomainConfig::from_yaml("f", "domain: ''\n").is_err());
        let mut tree = String::from("[]");
        for i in 0..=MAX_DEPTH {
            tree = format!("[{{key: k{i}, descriptors: {tree}}}]");
        }
        let deep = format!("domain: d\ndescriptors: {tree}\n");
        let e = DomainConfig::from_yaml("f", &deep);
        assert!(matches!(e, Err(RlsConfigError::Invalid { .. })), "{e:?}");
    }
}
