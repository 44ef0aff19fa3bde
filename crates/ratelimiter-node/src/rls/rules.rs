//! A domain's descriptor tree compiled for lookup, with each limit turned into one of our
//! [`Policy`]s under a deterministic, valid name (`[A-Za-z0-9_-]`, at most 64 bytes).
//!
//! Matching follows envoyproxy/ratelimit: the request's entries are walked in order down the
//! tree, each entry taking the child with its exact `key`/`value`, else the child with its `key`
//! and no value; the limit applies only where the last entry lands. Anything else (an entry with
//! no child, a limit on a shorter prefix) matches nothing: the descriptor is OK with no limit.
//!
//! Names: every policy of domain `d` starts with `rls-<slug(d)>-<hash(d)>-` (so a domain's
//! policies are found, replaced and protected by prefix), followed by a slug of the descriptor's
//! path and a hash of it. The policy's pattern is `rls:<name>:*`, the shape of its counter keys
//! (`rls:<name>:<fingerprint of the request's entries>`): descriptor values never reach Redis in
//! clear.

use std::collections::HashMap;

use ratelimiter_schema::{Policy, Window};

use crate::rls::config::{DescriptorList, DomainConfig, RateLimitConfig};
use crate::rls::descriptor::Descriptor;

/// The prefix of every policy name an envoy configuration file owns.
pub const RLS_POLICY_PREFIX: &str = "rls-";

/// What a configured descriptor does to requests that land on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The policy holding its limit; `None` when `unlimited`.
    pub policy: Option<Policy>,
    /// The limit as configured.
    pub limit: RateLimitConfig,
    /// Decide and count, never deny.
    pub shadow_mode: bool,
    /// Metrics per value (fingerprinted) instead of per key.
    pub detailed_metric: bool,
    /// The descriptor's path in envoyproxy/ratelimit's stat style: `key_value` or `key` per
    /// level, joined with `.` (the `descriptor` label of the metrics).
    pub metric_key: String,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Level {
    by_value: HashMap<(String, String), TreeNode>,
    by_key: HashMap<String, TreeNode>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct TreeNode {
    rule: Option<Rule>,
    children: Level,
}

/// One domain, compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainRules {
    /// The domain.
    pub domain: String,
    /// Digest of the configuration's content: nodes loading the same content agree on it.
    pub digest: String,
    /// The prefix of every policy name of this domain.
    pub policy_prefix: String,
    root: Level,
    policies: Vec<Policy>,
}

impl DomainRules {
    /// Compiles a parsed file.
    pub fn compile(config: &DomainConfig) -> Self {
        let policy_prefix = domain_prefix(&config.domain);
        let mut policies = Vec::new();
        let root = compile_level(&config.descriptors, &policy_prefix, "", &mut policies);
        policies.sort_by(|a, b| a.name.cmp(&b.name));
        Self {
            domain: config.domain.clone(),
            digest: format!("{:016x}", fnv1a64(format!("{config:?}").as_bytes())),
            policy_prefix,
            root,
            policies,
        }
    }

    /// The policies this domain puts in Redis (one per limited descriptor), sorted by name.
    pub fn policies(&self) -> &[Policy] {
        &self.policies
    }

    /// The rule `descriptor` lands on, if any.
    pub fn find(&self, descriptor: &Descriptor) -> Option<&Rule> {
        let mut level = &self.root;
        let last = descriptor.entries.len().checked_sub(1)?;
        for (i, e) in descriptor.entries.iter().enumerate() {
            let node = level
                .by_value
                .get(&(e.key.clone(), e.value.clone()))
                .or_else(|| level.by_key.get(&e.key))?;
            if i == last {
                return node.rule.as_ref();
            }
            level = &node.children;
        }
        None
    }
}

fn compile_level(
    list: &DescriptorList,
    prefix: &str,
    parent: &str,
    policies: &mut Vec<Policy>,
) -> Level {
    let mut level = Level::default();
    for d in &list.0 {
        let step = match &d.value {
            Some(v) => format!("{}_{v}", d.key),
            None => d.key.clone(),
        };
        let path = if parent.is_empty() {
            step
        } else {
            format!("{parent}.{step}")
        };
        let rule = d.rate_limit.map(|limit| {
            let policy = (!limit.unlimited).then(|| {
                let name = policy_name(prefix, &path);
                Policy {
                    algorithm: Default::default(),
                    pattern: format!("rls:{name}:*"),
                    name,
                    windows: vec![Window::new(limit.requests_per_unit, limit.unit.window_ms())],
                }
            });
            policies.extend(policy.clone());
            Rule {
                policy,
                limit,
                shadow_mode: d.shadow_mode,
                detailed_metric: d.detailed_metric,
                metric_key: path.clone(),
            }
        });
        let node = TreeNode {
            rule,
            children: compile_level(&d.descriptors, prefix, &path, policies),
        };
        match &d.value {
            Some(v) => level.by_value.insert((d.key.clone(), v.clone()), node),
            None => level.by_key.insert(d.key.clone(), node),
        };
    }
    level
}

/// `rls-<slug(domain), 12 bytes at most>-<8 hex digits of its hash>-`.
pub fn domain_prefix(domain: &str) -> String {
    let hash = fnv1a64(domain.as_bytes());
    format!(
        "{RLS_POLICY_PREFIX}{}-{:08x}-",
        slug(domain, 12),
        hash & 0xffff_ffff
    )
}

/// The domain prefix, a slug of `path` and 6 hex digits of its hash: 64 bytes at most.
fn policy_name(prefix: &str, path: &str) -> String {
    let room = 64 - prefix.len() - 7;
    let hash = fnv1a64(path.as_bytes()) & 0xff_ffff;
    format!("{prefix}{}-{hash:06x}", slug(path, room))
}

/// `text` with every byte outside `[A-Za-z0-9_-]` replaced by `_`, cut to `max` bytes.
fn slug(text: &str, max: usize) -> String {
    text.bytes()
        .take(max)
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' {
                char::from(b)
            } else {
                '_'
            }
        })
        .collect()
}

/// FNV-1a, 64 bits (names and digests only: not a security boundary).
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
    use crate::rls::descriptor::Entry;

    fn rules(yaml: &str) -> DomainRules {
        DomainRules::compile(&DomainConfig::from_yaml("t", yaml).unwrap())
    }

    fn d(entries: &[(&str, &str)]) -> Descriptor {
        Descriptor {
            entries: entries
                .iter()
                .map(|(k, v)| Entry {
                    key: (*k).into(),
                    value: (*v).into(),
                })
                .collect(),
        }
    }

    const YAML: &str = "\
domain: 'my domain/with:odd*chars and a very long name indeed'
descriptors:
  - key: ip
    rate_limit: { unit: second, requests_per_unit: 10 }
  - key: path
    value: /login
    rate_limit: { unit: minute, requests_per_unit: 5 }
    descriptors:
      - key: user
        rate_limit: { unit: hour, requests_per_unit: 100 }
  - key: path
    rate_limit: { unit: second, requests_per_unit: 50 }
  - key: health
    rate_limit: { unlimited: true }
  - key: parent
    descriptors:
      - key: child
        value: c
        rate_limit: { unit: day, requests_per_unit: 1 }
";

    #[test]
    fn lookups_follow_envoyproxy_ratelimit() {
        let r = rules(YAML);
        let limit = |e: &[(&str, &str)]| {
            r.find(&d(e))
                .map(|rule| (rule.metric_key.clone(), rule.limit.requests_per_unit))
        };
        assert_eq!(limit(&[("ip", "1.2.3.4")]), Some(("ip".into(), 10)));
        assert_eq!(
            limit(&[("path", "/login")]),
            Some(("path_/login".into(), 5))
        );
        assert_eq!(limit(&[("path", "/other")]), Some(("path".into(), 50)));
        assert_eq!(
            limit(&[("path", "/login"), ("user", "bob")]),
            Some(("path_/login.user".into(), 100))
        );
        // No backtracking to `path` without a value, no limit on a prefix, no partial match.
        assert_eq!(limit(&[("path", "/other"), ("user", "bob")]), None);
        assert_eq!(limit(&[("ip", "1"), ("more", "x")]), None);
        assert_eq!(limit(&[("parent", "p")]), None);
        assert_eq!(
            limit(&[("parent", "p"), ("child", "c")]),
            Some(("parent.child_c".into(), 1))
        );
        assert_eq!(limit(&[("parent", "p"), ("child", "d")]), None);
        assert_eq!(limit(&[("unknown", "x")]), None);
        assert_eq!(limit(&[]), None);
        let health = r.find(&d(&[("health", "x")])).unwrap();
        assert!(health.limit.unlimited && health.policy.is_none());
    }

    #[test]
    fn policy_names_are_valid_distinct_and_deterministic() {
        let r = rules(YAML);
        let names: Vec<&str> = r.policies().iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names.len(), 5, "{names:?}");
        let mut unique = names.clone();
        unique.dedup();
        assert_eq!(unique.len(), names.len());
        for p in r.policies() {
            ratelimiter_schema::policy::validate_name(&p.name).unwrap();
            assert!(p.name.starts_with(&r.policy_prefix), "{}", p.name);
            assert_eq!(p.pattern, format!("rls:{}:*", p.name));
            Policy::new(&p.name, p.spec()).unwrap();
        }
        assert_eq!(r, rules(YAML), "same content, same rules and digest");
        let other = rules(&YAML.replace("requests_per_unit: 10", "requests_per_unit: 11"));
        assert_ne!(r.digest, other.digest);
        assert_eq!(r.policy_prefix, other.policy_prefix);
        assert_ne!(domain_prefix("a"), domain_prefix("b"));
        assert_ne!(
            domain_prefix("a b"),
            domain_prefix("a_b"),
            "slugs collide, hashes do not"
        );
    }
}
