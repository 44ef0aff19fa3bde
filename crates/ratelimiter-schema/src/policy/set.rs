//! A validated set of policies: most-specific-match selection and the canonical digest.

use std::collections::BTreeMap;

use super::spec::{DEFAULT_POLICY, Policy, PolicySpec};
use super::window::Window;
use crate::error::PolicyError;
use crate::glob;

/// Most policies a set may hold.
pub const MAX_POLICIES: usize = 1_000;

/// A validated set of policies, ordered for most-specific-match lookup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicySet {
    /// Non-default policies, most specific first.
    ordered: Vec<Policy>,
    default: Option<Policy>,
}

impl PolicySet {
    /// Builds a set from policies with distinct names (a later duplicate replaces an earlier one).
    ///
    /// # Errors
    /// [`PolicyError::TooManyPolicies`].
    pub fn new(policies: impl IntoIterator<Item = Policy>) -> Result<Self, PolicyError> {
        let mut by_name: BTreeMap<String, Policy> = BTreeMap::new();
        for p in policies {
            by_name.insert(p.name.clone(), p);
        }
        if by_name.len() > MAX_POLICIES {
            return Err(PolicyError::TooManyPolicies(MAX_POLICIES));
        }
        let default = by_name.remove(DEFAULT_POLICY);
        let mut ordered: Vec<Policy> = by_name.into_values().collect();
        // Stable sort over name order: equal specificity falls back to the smaller name.
        ordered.sort_by_key(|p| std::cmp::Reverse(glob::specificity(&p.pattern)));
        Ok(Self { ordered, default })
    }

    /// The built-in policies a node seeds when it has no seed file: `default`, 100 per second.
    pub fn builtin() -> Self {
        let default = Policy {
            name: DEFAULT_POLICY.to_owned(),
            pattern: "*".to_owned(),
            algorithm: Default::default(),
            windows: vec![Window::new(100, 1_000)],
        };
        Self {
            ordered: Vec::new(),
            default: Some(default),
        }
    }

    /// Builds a set from named specs, as read from a TOML seed file: one `[policies.<name>]`
    /// table per policy, shaped as [`PolicySpec`].
    ///
    /// ```toml
    /// [policies.default]
    /// windows = [{ limit = 100, window_ms = 1000 }]
    ///
    /// [policies.login]
    /// match = "login:*"
    /// windows = [{ limit = 5, window_ms = 1000 }, { limit = 100, window_ms = 3600000 }]
    /// ```
    ///
    /// # Errors
    /// [`PolicyError`] for a policy that breaks a rule; the caller reports TOML syntax errors.
    pub fn from_specs(specs: BTreeMap<String, PolicySpec>) -> Result<Self, PolicyError> {
        let policies = specs
            .into_iter()
            .map(|(name, spec)| Policy::new(&name, spec))
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(policies)
    }

    /// The policy for `key`: the most specific non-default match, else `default`, else none.
    pub fn select(&self, key: &str) -> Option<&Policy> {
        self.ordered
            .iter()
            .find(|p| glob::matches(&p.pattern, key))
            .or(self.default.as_ref())
    }

    /// The policy named `name`.
    pub fn get(&self, name: &str) -> Option<&Policy> {
        if name == DEFAULT_POLICY {
            return self.default.as_ref();
        }
        self.ordered.iter().find(|p| p.name == name)
    }

    /// All policies, sorted by name.
    pub fn sorted(&self) -> Vec<&Policy> {
        let mut all: Vec<&Policy> = self.ordered.iter().chain(self.default.as_ref()).collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// How many policies the set holds.
    pub fn len(&self) -> usize {
        self.ordered.len() + usize::from(self.default.is_some())
    }

    /// Whether the set holds no policy.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The canonical digest of the set: FNV-1a 64 over the compact JSON array of the policies
    /// sorted by name (`[{"name":..,"match":..,"windows":[{"limit":..,"window_ms":..}]}]`, with
    /// `"algorithm"` and `"burst"` only where set, so a set without GCRA digests as it did before
    /// algorithms existed), as 16 lowercase hex digits. Two sets are equal exactly when their digests are (barring
    /// collisions), whatever order they were loaded in.
    pub fn digest(&self) -> String {
        // Serializing plain structs of strings and integers cannot fail.
        let canonical = serde_json::to_string(&self.sorted()).unwrap_or_default();
        format!("{:016x}", fnv1a64(canonical.as_bytes()))
    }
}

/// FNV-1a, 64 bits.
fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::spec::tests::policy;

    /// FNV-1a 64 of `[{"name":"default","match":"*","windows":[{"limit":100,"window_ms":1000}]}]`,
    /// the canonical JSON of the built-in set from before policies had an algorithm.
    const BUILTIN_DIGEST: &str = "a789a43f1fee2287";

    #[test]
    fn most_specific_match_wins_and_default_catches_the_rest() {
        let set = PolicySet::new([
            policy("default", "*"),
            policy("login", "login:*"),
            policy("admin", "login:admin:*"),
            policy("anyuser", "user:*"),
            policy("user7", "user:?"),
        ])
        .unwrap();
        let cases = [
            ("login:42", "login"),
            ("login:admin:1", "admin"),
            ("user:7", "user7"),
            ("user:77", "anyuser"),
            ("something", "default"),
            ("", "default"),
        ];
        for (key, want) in cases {
            assert_eq!(
                set.select(key).map(|p| p.name.as_str()),
                Some(want),
                "{key}"
            );
        }
        let no_default = PolicySet::new([policy("login", "login:*")]).unwrap();
        assert!(no_default.select("other").is_none());
    }

    #[test]
    fn equal_specificity_falls_back_to_the_smaller_name() {
        let set = PolicySet::new([policy("b", "x*"), policy("a", "*x")]).unwrap();
        assert_eq!(set.select("xx").unwrap().name, "a");
    }

    #[test]
    fn digest_ignores_load_order_and_sees_every_change() {
        let a = PolicySet::new([policy("default", "*"), policy("login", "login:*")]).unwrap();
        let b = PolicySet::new([policy("login", "login:*"), policy("default", "*")]).unwrap();
        assert_eq!(a.digest(), b.digest());
        assert_eq!(a.digest().len(), 16);
        let c = PolicySet::new([policy("default", "*"), policy("login", "login:x*")]).unwrap();
        assert_ne!(a.digest(), c.digest());
        assert_ne!(PolicySet::default().digest(), a.digest());
        // The digest of the built-in set, fixed before policies had an algorithm: unchanged.
        assert_eq!(PolicySet::builtin().digest(), BUILTIN_DIGEST);
        let mut gcra = PolicySet::builtin().sorted()[0].clone();
        gcra.algorithm = crate::policy::Algorithm::Gcra;
        assert_ne!(PolicySet::new([gcra]).unwrap().digest(), BUILTIN_DIGEST);
    }
}
