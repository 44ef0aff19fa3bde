//! The request model of the rate-limit service, independent of gRPC: a domain, descriptors made
//! of key/value entries, and a cost. The gRPC service and in-process callers (the tower layer)
//! build an [`RlsRequest`] and ask [`crate::Node::should_rate_limit`].

use ratelimiter_schema::fingerprint::fingerprint;

use crate::rls::config::MAX_DEPTH;
use crate::rls::error::RlsRequestError;

/// Most descriptors one request may carry.
pub const MAX_DESCRIPTORS: usize = 64;

/// One entry of a descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Entry {
    /// The key (`remote_address`, `path`, ...).
    pub key: String,
    /// The value.
    pub value: String,
}

/// A descriptor: entries walked in order down the domain's tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Descriptor {
    /// The entries.
    pub entries: Vec<Entry>,
}

impl Descriptor {
    /// A descriptor from `(key, value)` pairs.
    pub fn new<K: Into<String>, V: Into<String>>(entries: impl IntoIterator<Item = (K, V)>) -> Self {
        Self {
            entries: entries
                .into_iter()
                .map(|(k, v)| Entry {
                    key: k.into(),
                    value: v.into(),
                })
                .collect(),
        }
    }

    /// The counter key of this descriptor under `policy`: `rls:<policy>:<fingerprint>`, the
    /// fingerprint (under the identifier secret) covering every key and value, so values never
    /// reach Redis in clear and each distinct descriptor has its own counter.
    pub fn counter_user_key(&self, policy: &str, secret: Option<&[u8]>) -> String {
        format!("rls:{policy}:{}", fingerprint(secret, &self.canonical()))
    }

    /// The fingerprint of the entries' values alone (the `detailed_metric` label).
    pub fn values_fingerprint(&self, secret: Option<&[u8]>) -> String {
        fingerprint(secret, &self.canonical())
    }

    /// An unambiguous text of the entries (length-prefixed keys and values).
    fn canonical(&self) -> String {
        let mut out = String::new();
        for e in &self.entries {
            out.push_str(&format!(
                "{}:{}{}:{}",
                e.key.len(),
                e.key,
                e.value.len(),
                e.value
            ));
        }
        out
    }
}

/// One `ShouldRateLimit` question.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RlsRequest {
    /// The domain (one configuration file).
    pub domain: String,
    /// The descriptors: every one is limited, the request is over the limit when any is.
    pub descriptors: Vec<Descriptor>,
    /// The cost (Envoy's `hits_addend`): 0 means 1.
    pub hits_addend: u64,
}

impl RlsRequest {
    /// Checks the request's shape.
    ///
    /// # Errors
    /// [`RlsRequestError`] naming the first problem (no domain, no descriptor, an empty
    /// descriptor, an empty key, too many of either).
    pub fn validate(&self) -> Result<(), RlsRequestError> {
        if self.domain.is_empty() {
            return Err(RlsRequestError::NoDomain);
        }
        if self.descriptors.is_empty() {
            return Err(RlsRequestError::NoDescriptors);
        }
        if self.descriptors.len() > MAX_DESCRIPTORS {
            return Err(RlsRequestError::TooManyDescriptors {
                max: MAX_DESCRIPTORS,
                got: self.descriptors.len(),
            });
        }
        for (i, d) in self.descriptors.iter().enumerate() {
            if d.entries.is_empty() {
                return Err(RlsRequestError::EmptyDescriptor(i));
            }
            if d.entries.len() > MAX_DEPTH {
                return Err(RlsRequestError::TooManyEntries {
                    index: i,
                    max: MAX_DEPTH,
                    got: d.entries.len(),
                });
            }
            if d.entries.iter().any(|e| e.key.is_empty()) {
                return Err(RlsRequestError::EmptyKey(i));
            }
        }
        Ok(())
    }

    /// The cost: `hits_addend`, 0 meaning 1.
    pub fn cost(&self) -> u64 {
        self.hits_addend.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_requests_are_named() {
        let ok = RlsRequest {
            domain: "d".into(),
            descriptors: vec![Descriptor::new([("k", "v")])],
            hits_addend: 0,
        };
        ok.validate().unwrap();
        assert_eq!(ok.cost(), 1);
        let cases = [
            (
                RlsRequest {
                    domain: String::new(),
                    ..ok.clone()
                },
                RlsRequestError::NoDomain,
            ),
            (
                RlsRequest {
                    descriptors: vec![],
                    ..ok.clone()
                },
                RlsRequestError::NoDescriptors,
            ),
            (
                RlsRequest {
                    descriptors: vec![Descriptor::new([("k", "v")]), Descriptor::default()],
                    ..ok.clone()
                },
                RlsRequestError::EmptyDescriptor(1),
            ),
            (
                RlsRequest {
                    descriptors: vec![Descriptor::new([("", "v")])],
                    ..ok.clone()
                },
                RlsRequestError::EmptyKey(0),
            ),
        ];
        for (req, want) in cases {
            assert_eq!(req.validate(), Err(want));
        }
    }

    #[test]
    fn counter_keys_hide_values_and_keep_descriptors_apart() {
        let a = Descriptor::new([("user", "alice-secret")]);
        let b = Descriptor::new([("user", "bob")]);
        // Ambiguity check: ("ab","c") and ("a","bc") must not share a counter.
        let c = Descriptor::new([("ab", "c")]);
        let d = Descriptor::new([("a", "bc")]);
        let key = a.counter_user_key("rls-x", Some(b"s"));
        assert!(key.starts_with("rls:rls-x:fp-") && !key.contains("alice"), "{key}");
        assert_ne!(key, b.counter_user_key("rls-x", Some(b"s")));
        assert_ne!(
            c.counter_user_key("p", None),
            d.counter_user_key("p", None)
        );
        assert_eq!(key, a.counter_user_key("rls-x", Some(b"s")));
        assert_ne!(key, a.counter_user_key("rls-x", Some(b"t")));
    }
}
