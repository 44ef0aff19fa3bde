//! Which identifiers are secrets, and their fingerprints.
//!
//! An identifier of the `api:` kind carries an API key: it is replaced by its keyed fingerprint
//! (`api:fp-<32 hex>`, [`ratelimiter_schema::fingerprint`]) before it becomes part of a Redis key,
//! a metric, a log line or an answer. That holds for `X-API-Key` on `/api/request` and for a
//! `/v1/check` or `DELETE /v1/counters/{key}` key starting with `api:`, so all three address the
//! same counter. Keys of any other kind (`user:42`, `ip:1.2.3.4`, ...) are the caller's choice and
//! kept as they are. An `api:fp-...` key is already a fingerprint and is kept too, so the operator
//! can address a counter it listed.
//!
//! Policies match the fingerprinted identifier, whose visible prefix is unchanged: `api:*` still
//! selects them.

use ratelimiter_schema::fingerprint::{fingerprint, fingerprint_identifier};

/// The kind of identifier whose value is a secret.
pub const SECRET_KIND: &str = "api:";

/// `identifier` as it may be stored and shown: `api:` identifiers fingerprinted under `secret`,
/// others unchanged.
pub fn visible_identifier(secret: Option<&[u8]>, identifier: &str) -> String {
    if identifier.starts_with(SECRET_KIND) {
        fingerprint_identifier(secret, identifier)
    } else {
        identifier.to_owned()
    }
}

/// The identifier of an API key sent by a client (`api:` and its fingerprint under `secret`).
/// Always fingerprinted, even when it looks like a fingerprint: a client that learnt another's
/// fingerprint cannot spend that client's limit with it.
pub fn api_key_identifier(secret: Option<&[u8]>, api_key: &str) -> String {
    format!("{SECRET_KIND}{}", fingerprint(secret, api_key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratelimiter_schema::fingerprint::is_fingerprint;

    #[test]
    fn api_keys_are_fingerprinted_and_others_kept() {
        let fp = visible_identifier(Some(b"s"), "api:sk-live-1");
        assert!(fp.starts_with("api:") && is_fingerprint(&fp[4..]), "{fp}");
        assert_eq!(fp, api_key_identifier(Some(b"s"), "sk-live-1"));
        assert_eq!(
            visible_identifier(Some(b"s"), &fp),
            fp,
            "a fingerprint stays"
        );
        assert_ne!(fp, visible_identifier(Some(b"t"), "api:sk-live-1"));
        let posing = api_key_identifier(Some(b"s"), &fp[4..]);
        assert_ne!(
            posing, fp,
            "a fingerprint sent as a key is fingerprinted again"
        );
        for kept in ["user:42", "ip:1.2.3.4", "apikey:x", "API:x", "login"] {
            assert_eq!(visible_identifier(Some(b"s"), kept), kept);
        }
    }
}
