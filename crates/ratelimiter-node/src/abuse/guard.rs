//! [`AbuseGuard`]: the abuse settings of a node, with what it remembers (clients, recent
//! blocks). Clients and keys are handled only as fingerprints under the identifier secret.

use std::collections::HashSet;
use std::net::IpAddr;
use std::time::Duration;

use ratelimiter_schema::fingerprint::fingerprint_identifier;

use super::clients::Clients;
use super::recent::RecentBlocks;
use crate::abuse::config::AbuseConfig;

/// The abuse guard of one node.
pub struct AbuseGuard {
    pub(crate) limit: u64,
    pub(crate) block: Duration,
    honeypots: HashSet<String>,
    secret: Option<Vec<u8>>,
    pub(crate) clients: Clients,
    pub(crate) recent: RecentBlocks,
}

impl std::fmt::Debug for AbuseGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Neither the secret nor the honeypots (fingerprints, but a list an attacker would love).
        f.debug_struct("AbuseGuard")
            .field("limit", &self.limit)
            .field("block", &self.block)
            .field("honeypots", &self.honeypots.len())
            .field("secret", &self.secret.as_ref().map(|_| "***"))
            .finish_non_exhaustive()
    }
}

impl AbuseGuard {
    /// The guard of `config`, fingerprinting under `secret` (the identifier secret).
    pub fn new(config: &AbuseConfig, secret: Option<&[u8]>) -> Self {
        let honeypots = config
            .honeypot_keys
            .iter()
            .map(|k| {
                let id = if k.starts_with("api:") {
                    k.clone()
                } else {
                    format!("api:{k}")
                };
                fingerprint_identifier(secret, &id)
            })
            .collect();
        Self {
            limit: config.enumeration_limit,
            block: config.enumeration_block,
            honeypots,
            secret: secret.map(<[u8]>::to_vec),
            clients: Clients::default(),
            recent: RecentBlocks::default(),
        }
    }

    /// Whether requests are screened at all (an enumeration limit or honeypot keys).
    pub fn enabled(&self) -> bool {
        self.limit > 0 || !self.honeypots.is_empty()
    }

    /// The fingerprint of a client address (`ip:fp-...`).
    pub fn client_id(&self, addr: IpAddr) -> String {
        fingerprint_identifier(self.secret.as_deref(), &format!("ip:{addr}"))
    }

    /// The fingerprint of an `api:` identifier, clear or already fingerprinted.
    pub fn key_id(&self, identifier: &str) -> String {
        fingerprint_identifier(self.secret.as_deref(), identifier)
    }

    /// Whether the fingerprinted identifier `key_id` is a honeypot.
    pub fn is_honeypot(&self, key_id: &str) -> bool {
        self.honeypots.contains(key_id)
    }
}

#[cfg(test)]
mod tests {
    use ratelimiter_schema::fingerprint::fingerprint;

    use super::*;

    #[test]
    fn honeypots_match_by_value_or_fingerprint_never_in_clear() {
        let secret = Some(&b"s3cret"[..]);
        let fp = fingerprint(secret, "trap-2");
        let config = AbuseConfig {
            honeypot_keys: vec!["trap-1".into(), fp.clone(), "api:trap-3".into()],
            ..AbuseConfig::default()
        };
        let g = AbuseGuard::new(&config, secret);
        for k in ["api:trap-1", "api:trap-2", "api:trap-3"] {
            assert!(g.is_honeypot(&g.key_id(k)), "{k}");
        }
        assert!(
            g.is_honeypot(&format!("api:{fp}")),
            "an identifier fingerprinted before"
        );
        assert!(!g.is_honeypot(&g.key_id("api:real")));
        assert!(!format!("{g:?}").contains("trap-1"));
        let client = g.client_id("10.0.0.1".parse().unwrap());
        assert!(
            client.starts_with("ip:fp-") && !client.contains("10.0.0.1"),
            "{client}"
        );
    }

    #[test]
    fn off_without_a_limit_or_honeypots() {
        let off = AbuseConfig {
            enumeration_limit: 0,
            ..AbuseConfig::default()
        };
        assert!(!AbuseGuard::new(&off, None).enabled());
        assert!(AbuseGuard::new(&AbuseConfig::default(), None).enabled());
    }
}
