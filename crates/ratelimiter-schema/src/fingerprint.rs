//! Keyed fingerprints of client identifiers, so that no API key is ever stored, listed, logged,
//! exported or put in a ticket in clear.
//!
//! An identifier such as `api:sk-live-123` keeps its visible kind prefix (`api:`), which policies
//! match on, and replaces the secret part by `fp-` and the first 32 hex digits (128 bits) of
//! HMAC-SHA-256 under the nodes' shared identifier secret. Every node with the same secret computes
//! the same fingerprint, so one client keeps one limit across the cluster; each node publishes
//! [`secret_digest`] of its secret so that the operator can tell when two nodes disagree (their
//! fingerprints, and so their counters, would split one client's limit).
//!
//! Without a secret the fingerprint is an unkeyed SHA-256 under a fixed domain separator: still
//! nothing in clear, but a low-entropy key could be recovered by guessing, so nodes warn at start.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Prefix of the secret part of a fingerprinted identifier (`api:fp-...`).
pub const FINGERPRINT_PREFIX: &str = "fp-";

/// Hex digits kept of the HMAC: 128 bits, collision-free at any realistic number of clients.
const FINGERPRINT_HEX: usize = 32;

/// Key used when no identifier secret is configured (a domain separator, not a secret).
const UNKEYED: &[u8] = b"operator-ratelimiter identifier fingerprint v1 (no secret)";

/// The fingerprint of `value` under `secret` (`None`: the unkeyed fallback), as `fp-` and 32 hex
/// digits. Deterministic: the same secret and value always give the same fingerprint.
#[must_use]
pub fn fingerprint(secret: Option<&[u8]>, value: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.unwrap_or(UNKEYED))
        .expect("HMAC accepts a key of any length");
    mac.update(value.as_bytes());
    let bytes = mac.finalize().into_bytes();
    let mut out = String::with_capacity(FINGERPRINT_PREFIX.len() + FINGERPRINT_HEX);
    out.push_str(FINGERPRINT_PREFIX);
    out.push_str(&hex(&bytes)[..FINGERPRINT_HEX]);
    out
}

/// An identifier with its secret part fingerprinted: `kind:secret` becomes `kind:fp-...`, where
/// `kind` is everything up to and including the first `:` (for example `api:`); an identifier
/// without `:` is fingerprinted whole. An identifier already fingerprinted is returned as is.
#[must_use]
pub fn fingerprint_identifier(secret: Option<&[u8]>, identifier: &str) -> String {
    let (kind, rest) = match identifier.find(':') {
        Some(i) => identifier.split_at(i + 1),
        None => ("", identifier),
    };
    if is_fingerprint(rest) {
        return identifier.to_owned();
    }
    format!("{kind}{}", fingerprint(secret, rest))
}

/// Whether `value` has the shape of a fingerprint (`fp-` and 32 lowercase hex digits).
#[must_use]
pub fn is_fingerprint(value: &str) -> bool {
    value.strip_prefix(FINGERPRINT_PREFIX).is_some_and(|h| {
        h.len() == FINGERPRINT_HEX && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// A digest of the identifier secret that nodes publish in `/v1/node`
/// (`identifier_secret_digest`): 16 hex digits of SHA-256 under a domain separator. It tells
/// whether two nodes share a secret without revealing it (`None` when no secret is set).
#[must_use]
pub fn secret_digest(secret: Option<&[u8]>) -> Option<String> {
    let secret = secret?;
    let mut hasher = Sha256::new();
    hasher.update(b"operator-ratelimiter identifier secret digest v1\0");
    hasher.update(secret);
    Some(hex(&hasher.finalize())[..16].to_owned())
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_secret_same_fingerprint_other_secret_other() {
        let a = fingerprint(Some(b"s1"), "sk-live-123");
        assert_eq!(a, fingerprint(Some(b"s1"), "sk-live-123"));
        assert_ne!(a, fingerprint(Some(b"s2"), "sk-live-123"));
        assert_ne!(a, fingerprint(None, "sk-live-123"));
        assert!(is_fingerprint(&a), "{a}");
        assert!(!a.contains("sk-live"));
    }

    #[test]
    fn identifier_keeps_its_kind_prefix() {
        let fp = fingerprint_identifier(Some(b"k"), "api:sk-live-123");
        assert!(fp.starts_with("api:fp-"), "{fp}");
        assert!(!fp.contains("sk-live"));
        assert_eq!(fingerprint_identifier(Some(b"k"), &fp), fp, "idempotent");
        assert!(is_fingerprint(&fingerprint_identifier(None, "nocolon")));
    }

    #[test]
    fn digest_hides_the_secret_and_tells_secrets_apart() {
        assert_eq!(secret_digest(None), None);
        let d = secret_digest(Some(b"topsecret")).unwrap();
        assert_eq!(d.len(), 16);
        assert_ne!(Some(d), secret_digest(Some(b"other")));
        assert!(!is_fingerprint("fp-XYZ"));
    }
}
