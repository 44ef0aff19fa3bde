//! API keys in clear, hidden wherever the monitor shows what it read. Nodes store and log API
//! keys only as fingerprints (`api:fp-...`), but counters written before they did (or by an older
//! node) can still be in Redis, and an older node's log can still hold a key: what the monitor
//! puts in an observation, a ticket or a diagnosis context never carries one.

use ratelimiter_schema::{fingerprint, keys};

/// The kind prefix of API-key identifiers.
pub(crate) const API_KIND: &str = "api:";
/// What replaces the secret part of an API key in clear.
const HIDDEN: &str = "***";

/// Whether `user_key` is an API key in clear (`api:` and anything but a fingerprint).
pub(crate) fn is_clear_api_key(user_key: &str) -> bool {
    user_key
        .strip_prefix(API_KIND)
        .is_some_and(|rest| !fingerprint::is_fingerprint(rest))
}

/// The user key as it may be shown: an API key in clear becomes `api:***`.
pub(crate) fn user_key(user_key: &str) -> String {
    if is_clear_api_key(user_key) {
        format!("{API_KIND}{HIDDEN}")
    } else {
        user_key.to_owned()
    }
}

/// The Redis key `name` as it may be shown: a counter (or GCRA bucket) of an API key in clear
/// gets `api:***` as its user key; anything else is left as it is.
pub(crate) fn key_name(prefix: &str, name: &str) -> String {
    match keys::parse_counter_key(prefix, name) {
        Some(ck) if is_clear_api_key(&ck.user_key) => {
            keys::counter_key(prefix, &user_key(&ck.user_key), &ck.policy, ck.window_ms)
        }
        Some(_) => name.to_owned(),
        None => match keys::parse_gcra_key(prefix, name) {
            Some(gk) if is_clear_api_key(&gk.user_key) => {
                keys::gcra_key(prefix, &user_key(&gk.user_key), &gk.policy)
            }
            _ => name.to_owned(),
        },
    }
}

/// `line` (of a log) with the secret part of every `api:` identifier in clear hidden: what
/// follows `api:` up to a space, a quote, a bracket or a separator.
pub(crate) fn line(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(at) = rest.find(API_KIND) {
        let (before, after) = rest.split_at(at + API_KIND.len());
        out.push_str(before);
        let end = after
            .find(|c: char| c.is_whitespace() || "\"'{}[](),;&<>".contains(c))
            .unwrap_or(after.len());
        let (secret, tail) = after.split_at(end);
        if secret.is_empty() || fingerprint::is_fingerprint(secret) {
            out.push_str(secret);
        } else {
            out.push_str(HIDDEN);
        }
        rest = tail;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_in_clear_are_hidden_and_fingerprints_kept() {
        let fp = fingerprint::fingerprint_identifier(Some(b"s"), "api:sk-live-1");
        assert_eq!(user_key("api:sk-live-1"), "api:***");
        assert_eq!(user_key(&fp), fp);
        assert_eq!(user_key("user:42"), "user:42");

        let p = "ratelimit:";
        let clear = keys::counter_key(p, "api:sk-live-1 {x}", "default", 1_000);
        assert_eq!(key_name(p, &clear), "ratelimit:c:{api:***}:default:1000");
        let kept = keys::counter_key(p, &fp, "default", 1_000);
        assert_eq!(key_name(p, &kept), kept);
        assert_eq!(key_name(p, "ratelimit:junk"), "ratelimit:junk");
        let bucket = keys::gcra_key(p, "api:sk-live-1", "api");
        assert_eq!(key_name(p, &bucket), "ratelimit:c:{api:***}:api:gcra");

        assert_eq!(
            line(r#"INFO denied key="api:sk-live-1" then api:sk-2, {api:x} api: and "#.trim_end()),
            r#"INFO denied key="api:***" then api:***, {api:***} api: and"#
        );
        assert_eq!(line(&format!("ok {fp}")), format!("ok {fp}"));
    }
}
