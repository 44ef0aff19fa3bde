//! [`PolicySpec`], a policy as JSON and TOML write it, and [`Policy`], a named spec once
//! validated.

use serde::{Deserialize, Serialize};

use super::algorithm::Algorithm;
use super::window::{Window, validate_windows};
use crate::error::PolicyError;
use crate::glob;

/// The name of the fallback policy.
pub const DEFAULT_POLICY: &str = "default";
/// Longest glob pattern, in bytes.
pub const MAX_PATTERN_BYTES: usize = 256;

/// A policy without its name: the body of `PUT /v1/policies/{name}`, the value stored in Redis,
/// and one entry of the TOML seed file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySpec {
    /// Glob over keys (`*`, `?`, `\` escapes). Absent only for `default`, which matches the rest.
    #[serde(rename = "match", default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// How the windows are counted (absent: `sliding_window`, left out when it is).
    #[serde(default, skip_serializing_if = "Algorithm::is_default")]
    pub algorithm: Algorithm,
    /// The windows, all checked and consumed together.
    pub windows: Vec<Window>,
}

/// A named, validated policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// The name, `[A-Za-z0-9_-]{1,64}`.
    pub name: String,
    /// The glob pattern (`*` for `default`).
    #[serde(rename = "match")]
    pub pattern: String,
    /// How the windows are counted (left out of the JSON when `sliding_window`, so the digest
    /// of a policy set without GCRA is what it was before algorithms existed).
    #[serde(default, skip_serializing_if = "Algorithm::is_default")]
    pub algorithm: Algorithm,
    /// The windows, in the order given.
    pub windows: Vec<Window>,
}

impl Policy {
    /// Builds and validates a policy.
    ///
    /// # Errors
    /// [`PolicyError`] naming the first rule broken.
    pub fn new(name: &str, spec: PolicySpec) -> Result<Self, PolicyError> {
        validate_name(name)?;
        let pattern = match (name == DEFAULT_POLICY, spec.pattern) {
            (true, None) => "*".to_owned(),
            (true, Some(p)) if p == "*" => p,
            (true, Some(_)) => return Err(PolicyError::DefaultPattern),
            (false, None) => return Err(PolicyError::MissingPattern(name.to_owned())),
            (false, Some(p)) => p,
        };
        if pattern.is_empty() || pattern.len() > MAX_PATTERN_BYTES {
            return Err(PolicyError::InvalidPattern(pattern));
        }
        validate_windows(&spec.windows, spec.algorithm)?;
        Ok(Self {
            name: name.to_owned(),
            pattern,
            algorithm: spec.algorithm,
            windows: spec.windows,
        })
    }

    /// Parses a policy from its stored JSON ([`PolicySpec`]) and validates it.
    ///
    /// # Errors
    /// [`PolicyError::Parse`] or a validation error.
    pub fn from_json(name: &str, json: &str) -> Result<Self, PolicyError> {
        let spec: PolicySpec = serde_json::from_str(json).map_err(|e| PolicyError::Parse {
            name: name.to_owned(),
            detail: e.to_string(),
        })?;
        Self::new(name, spec)
    }

    /// The spec to store (`match` omitted for `default`).
    pub fn spec(&self) -> PolicySpec {
        PolicySpec {
            pattern: (self.name != DEFAULT_POLICY).then(|| self.pattern.clone()),
            algorithm: self.algorithm,
            windows: self.windows.clone(),
        }
    }

    /// The stored JSON form ([`PolicySpec`]).
    pub fn to_json(&self) -> String {
        // Serializing plain structs of strings and integers cannot fail.
        serde_json::to_string(&self.spec()).unwrap_or_default()
    }

    /// Whether this policy's pattern matches `key` (`default` matches everything).
    pub fn matches(&self, key: &str) -> bool {
        self.name == DEFAULT_POLICY || glob::matches(&self.pattern, key)
    }

    /// The largest cost a single request may carry: the smallest limit among the windows (under
    /// `gcra`, the smallest capacity, `burst` or the limit).
    pub fn min_limit(&self) -> u64 {
        let gcra = self.algorithm == Algorithm::Gcra;
        self.windows
            .iter()
            .map(|w| if gcra { w.capacity() } else { w.limit })
            .min()
            .unwrap_or(0)
    }
}

/// Checks a policy name: `[A-Za-z0-9_-]{1,64}`.
///
/// # Errors
/// [`PolicyError::InvalidName`].
pub fn validate_name(name: &str) -> Result<(), PolicyError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(PolicyError::InvalidName(name.to_owned()))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::policy::window::{MAX_LIMIT, MAX_WINDOW_MS, MAX_WINDOWS};

    pub(crate) fn spec(pattern: Option<&str>, windows: &[(u64, u64)]) -> PolicySpec {
        PolicySpec {
            pattern: pattern.map(str::to_owned),
            algorithm: Algorithm::default(),
            windows: windows
                .iter()
                .map(|&(limit, window_ms)| Window::new(limit, window_ms))
                .collect(),
        }
    }

    pub(crate) fn policy(name: &str, pattern: &str) -> Policy {
        let pattern = (name != DEFAULT_POLICY).then_some(pattern);
        Policy::new(name, spec(pattern, &[(10, 1000)])).unwrap()
    }

    #[test]
    fn validation_rejects_each_broken_rule() {
        let long = "x".repeat(65);
        let cases: Vec<(&str, PolicySpec, PolicyError)> = vec![
            (
                "",
                spec(Some("*"), &[(1, 1)]),
                PolicyError::InvalidName(String::new()),
            ),
            (
                "bad name",
                spec(Some("*"), &[(1, 1)]),
                PolicyError::InvalidName("bad name".into()),
            ),
            (
                &long,
                spec(Some("*"), &[(1, 1)]),
                PolicyError::InvalidName("x".repeat(65)),
            ),
            (
                "p",
                spec(None, &[(1, 1)]),
                PolicyError::MissingPattern("p".into()),
            ),
            (
                "p",
                spec(Some(""), &[(1, 1)]),
                PolicyError::InvalidPattern(String::new()),
            ),
            (
                "default",
                spec(Some("a*"), &[(1, 1)]),
                PolicyError::DefaultPattern,
            ),
            ("p", spec(Some("*"), &[]), PolicyError::NoWindows),
            (
                "p",
                spec(Some("*"), &[(0, 1)]),
                PolicyError::InvalidLimit {
                    max: MAX_LIMIT,
                    got: 0,
                },
            ),
            (
                "p",
                spec(Some("*"), &[(1, 0)]),
                PolicyError::InvalidWindow {
                    max: MAX_WINDOW_MS,
                    got: 0,
                },
            ),
            (
                "p",
                spec(Some("*"), &[(1, MAX_WINDOW_MS + 1)]),
                PolicyError::InvalidWindow {
                    max: MAX_WINDOW_MS,
                    got: MAX_WINDOW_MS + 1,
                },
            ),
            (
                "p",
                spec(Some("*"), &[(1, 5), (2, 5)]),
                PolicyError::DuplicateWindow(5),
            ),
            (
                "p",
                spec(
                    Some("*"),
                    &[(1, 1); 9]
                        .iter()
                        .enumerate()
                        .map(|(i, w)| (w.0, w.1 + i as u64))
                        .collect::<Vec<_>>(),
                ),
                PolicyError::TooManyWindows {
                    max: MAX_WINDOWS,
                    got: 9,
                },
            ),
        ];
        for (name, spec, want) in cases {
            assert_eq!(Policy::new(name, spec), Err(want));
        }
        assert!(
            Policy::new(
                "Login_2-x",
                spec(Some("login:*"), &[(5, 1000), (100, 3_600_000)])
            )
            .is_ok()
        );
        assert_eq!(
            Policy::new("default", spec(Some("*"), &[(1, 1)]))
                .unwrap()
                .pattern,
            "*"
        );
    }

    #[test]
    fn json_shape_is_the_documented_one() {
        let p = Policy::from_json("login", r#"{"match": "login:*", "windows": [{"limit": 5, "window_ms": 1000}, {"limit": 100, "window_ms": 3600000}]}"#).unwrap();
        assert_eq!(p.windows.len(), 2);
        assert_eq!(p.min_limit(), 5);
        assert_eq!(Policy::from_json("login", &p.to_json()).unwrap(), p);
        assert!(matches!(
            Policy::from_json("x", r#"{"match": "*", "windows": [], "extra": 1}"#),
            Err(PolicyError::Parse { .. })
        ));
    }

    #[test]
    fn gcra_policies_parse_validate_and_keep_old_json_unchanged() {
        let old = r#"{"match":"login:*","windows":[{"limit":5,"window_ms":1000}]}"#;
        let p = Policy::from_json("login", old).unwrap();
        assert_eq!(p.algorithm, Algorithm::SlidingWindow);
        assert_eq!(p.to_json(), old, "the default algorithm is left out");
        let gcra = r#"{"match":"api:*","algorithm":"gcra","windows":[{"limit":100,"window_ms":600000,"burst":10}]}"#;
        let g = Policy::from_json("api", gcra).unwrap();
        assert_eq!(g.algorithm, Algorithm::Gcra);
        assert_eq!(g.windows[0].capacity(), 10);
        assert_eq!(g.min_limit(), 10, "a request may cost at most the burst");
        assert_eq!(g.to_json(), gcra);
        let unknown = Policy::from_json(
            "x",
            r#"{"match":"*","algorithm":"leaky","windows":[{"limit":1,"window_ms":1}]}"#,
        );
        assert!(
            matches!(&unknown, Err(PolicyError::Parse { detail, .. }) if detail.contains("gcra")),
            "{unknown:?}"
        );
        let burst = |algorithm, burst| PolicySpec {
            pattern: Some("*".into()),
            algorithm,
            windows: vec![Window::new(10, 1000).with_burst(burst)],
        };
        assert_eq!(
            Policy::new("p", burst(Algorithm::SlidingWindow, 5)),
            Err(PolicyError::BurstWithoutGcra(1000))
        );
        assert_eq!(
            Policy::new("p", burst(Algorithm::Gcra, 0)),
            Err(PolicyError::InvalidBurst {
                max: MAX_LIMIT,
                got: 0
            })
        );
        assert!(matches!(
            Policy::new("p", burst(Algorithm::Gcra, MAX_LIMIT)),
            Err(PolicyError::BurstTooLarge { .. })
        ));
        assert!(Policy::new("p", burst(Algorithm::Gcra, 1)).is_ok());
    }
}
