//! The Redis key schema: the one place that names Redis keys. The operator relies on it.
//!
//! Every key lives under the node's key prefix `P` (default `ratelimit:`), and **every key has a
//! TTL**: no code path writes a key without setting its expiry in the same script call.
//!
//! | key | type | content | TTL | written by |
//! |-----|------|---------|-----|------------|
//! | `P` `c:{` *enc(user key)* `}:` *policy* `:` *window_ms* | hash | `w`: index of the current fixed window (`floor(redis_ms / window_ms)`), `c`: cost counted in window `w`, `p`: cost counted in window `w - 1` | `2 × window_ms`, set by the first write of each window (so it outlives the next window, while it is read as the previous one; later writes in the window add to `c` and keep it) | the check script, on each admitted request |
//! | `P` `c:{` *enc(user key)* `}:` *policy* `:gcra` | hash | one field per window of a `gcra` policy, named by its *window_ms* (decimal): the window's theoretical arrival time `tat`, Unix µs of Redis `TIME` | until the bucket is full again: `max(tat) − now`, at least 1 ms, set by every write | the GCRA script, on each admitted request |
//! | `P` `{shared}:policies` | hash | `version`: integer, only increases (seeded at Redis time in ms, +1 per change, so it also increases across a Redis restart); `policy:<name>`: [`PolicySpec`](crate::PolicySpec) JSON | [`LONG_TTL_MS`] (7 days), refreshed by every policy write and by every node every minute | the policy scripts (put, delete, seed), atomically with the version bump |
//! | `P` `{shared}:nodes` | hash | `<node id>`: [`NodeRecord`](crate::NodeRecord) JSON, times from Redis `TIME` | [`LONG_TTL_MS`], refreshed by every heartbeat | each node's heartbeat (every second); removed on graceful shutdown |
//! | `P` `{shared}:near_resets` | string | the near caches' reset epoch: an integer bumped by every counter reset (`DELETE /v1/counters/{key}`); a node with `--near-cache` drops its cached entries when its policy poll sees it change | [`LONG_TTL_MS`], set by every bump | the reset endpoint of any node (only ever read by nodes with the near cache) |
//! | `P` `abuse:b:{` *client fingerprint* `}` | string | why the client is blocked (`enumeration` or `honeypot`) | `--enumeration-block` (10 min), set with the block | the abuse script of any node |
//! | `P` `abuse:k:{` *client fingerprint* `}:` *minute* | HyperLogLog | fingerprints of the API keys the client used in that minute (`floor(node ms / 60000)`) | 2 minutes, set when it grows | the abuse script, on `/api/request` |
//! | `P` `probe:{` *node id* `}` | hash | a check-script counter written by the circuit breaker's half-open probe | 2 s (`2 × 1000 ms`), set by the probe | the probe of one node |
//! | `P` `probe:{` *node id* `:` *n* `}` | hash | the same, for the probe of one cluster shard (`n` picked so the key falls in that shard's slots) | 2 s | the probe of one node, per shard |
//!
//! **Counters.** One hash per (user key, policy, window). The sliding-window estimate at Redis
//! time `now` is `p × (1 − elapsed / window_ms) + c`, with `elapsed = now − w × window_ms` (when
//! the stored `w` is one behind, `c` is the previous window and the current one is empty; when it
//! is older, both are 0). A request of cost `k` is admitted when the estimate plus `k` is at most
//! the limit, for every window of its policy; then `k` is added to `c` of every window.
//! Consequently, for a window whose stored `w` is the current index, **`c` never exceeds that
//! window's limit** unless the policy's limit was lowered after the fact: `c > limit` is the
//! observable sign of over-admission.
//!
//! **GCRA buckets.** A policy with `"algorithm": "gcra"` keeps one hash per (user key, policy):
//! the `tat` of each window, as a field named by the window length. With `T` the window's
//! emission interval and `tau = burst × T` ([`GcraParams`](crate::policy::GcraParams)), a
//! request of cost `k` at Redis time `now` is admitted when `max(tat, now) + k·T − now ≤ tau`
//! for every window; then every `tat` becomes `max(tat, now) + k·T`. Consequently **`tat − now`
//! never exceeds `tau`** (unless the policy was tightened after the fact): `tat − now ≥
//! tau + T` (a whole unit beyond the burst) is the observable sign of over-admission. The key
//! name ends in `:gcra` where a sliding-window counter's ends in a window length, so changing a
//! policy's algorithm starts it afresh: the old keys are not read and expire by their TTL.
//!
//! **Encoding.** The user key is stored between `{` and `}`, so all counter keys of one decision
//! share a Redis Cluster hash tag (same slot: the script may touch them together). To keep the tag
//! and the parse unambiguous, `%`, `{`, `}` and control characters of the user key are
//! percent-encoded (`%7B`, `%7D`, `%25`, ...); everything else, `:` included, is kept as is, so
//! `user:42` becomes `ratelimit:c:{user:42}:default:1000`. Policy names are `[A-Za-z0-9_-]`, so
//! the suffix after `}` splits on `:` without doubt.
//!
//! **Hash tags on a Redis Cluster.** Every key of one decision shares its user key's tag (one
//! slot, one script call). The keys every node shares, `policies` and `nodes`, carry the one
//! tag [`SHARED_TAG`] (`{shared}`), so they live in one slot together: any script may touch
//! both and stays single-slot on a cluster. (Deployments with different prefixes on one cluster
//! put their shared keys in that same slot; they are two small hashes each.) Abuse keys share
//! the client's tag, a probe key its node's.
//!
//! **Layout change (the shared tag).** Before the cluster work these two keys were `P policies`
//! and `P nodes` ([`legacy_policies_key`], [`legacy_nodes_key`]). A node in `single` or
//! `sentinel` mode migrates them on start: `RENAMENX` of each old key to its new name (kept
//! when the new one already exists; `RENAMENX` keeps the TTL). Cluster mode never had the old
//! layout. Older nodes and operators do not read the new names: upgrade every node and the
//! operator together (a documented break of the key schema, version 2 of it).
//!
//! **Lifetime of the long-lived keys.** `policies` and `nodes` live 7 days past the last refresh.
//! If every node stays down longer than that, the policies are gone and the first node to start
//! seeds them again from its `--policies` file (or the built-in default).

use crate::error::KeyError;
use crate::policy::{Algorithm, Policy};

/// TTL of the long-lived keys (`policies`, `nodes`): 7 days, refreshed by the nodes.
pub const LONG_TTL_MS: u64 = 7 * 24 * 3_600_000;
/// The field of the `policies` hash holding the version.
pub const POLICY_VERSION_FIELD: &str = "version";
/// The prefix of the `policies` hash fields holding one policy each.
pub const POLICY_FIELD_PREFIX: &str = "policy:";
/// Longest user key, in bytes (before encoding).
pub const MAX_USER_KEY_BYTES: usize = 512;
/// The hash field of a counter holding the current window index.
pub const FIELD_WINDOW: &str = "w";
/// The hash field of a counter holding the cost counted in the current window.
pub const FIELD_CURRENT: &str = "c";
/// The hash field of a counter holding the cost counted in the previous window.
pub const FIELD_PREVIOUS: &str = "p";

/// The last segment of a GCRA bucket's key name (where a counter has its window length).
pub const GCRA_SUFFIX: &str = "gcra";

/// The parts of a GCRA bucket's key name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcraKey {
    /// The user key (decoded).
    pub user_key: String,
    /// The policy name.
    pub policy: String,
}

/// The parts of a counter key name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterKey {
    /// The user key (decoded).
    pub user_key: String,
    /// The policy name.
    pub policy: String,
    /// The window length in milliseconds.
    pub window_ms: u64,
}

/// Checks a key prefix: 1 to 64 characters, none of `{ } * ? [ ] \` or whitespace (a `{` would
/// steal the hash tag; glob characters would break `SCAN MATCH`).
///
/// # Errors
/// [`KeyError::InvalidPrefix`].
pub fn validate_prefix(prefix: &str) -> Result<(), KeyError> {
    let bad = |c: char| {
        matches!(c, '{' | '}' | '*' | '?' | '[' | ']' | '\\') || c.is_whitespace() || c.is_control()
    };
    if prefix.is_empty() || prefix.len() > 64 || prefix.chars().any(bad) {
        return Err(KeyError::InvalidPrefix(prefix.to_owned()));
    }
    Ok(())
}

/// Checks a user key: 1 to [`MAX_USER_KEY_BYTES`] bytes.
///
/// # Errors
/// [`KeyError::Empty`] or [`KeyError::TooLong`].
pub fn validate_user_key(key: &str) -> Result<(), KeyError> {
    if key.is_empty() {
        return Err(KeyError::Empty);
    }
    if key.len() > MAX_USER_KEY_BYTES {
        return Err(KeyError::TooLong {
            max: MAX_USER_KEY_BYTES,
            got: key.len(),
        });
    }
    Ok(())
}

/// The counter of `user_key` for one window of `policy`.
pub fn counter_key(prefix: &str, user_key: &str, policy: &str, window_ms: u64) -> String {
    let mut out = String::with_capacity(prefix.len() + user_key.len() + policy.len() + 16);
    out.push_str(prefix);
    out.push_str("c:{");
    encode_into(user_key, &mut out);
    out.push_str("}:");
    out.push_str(policy);
    out.push(':');
    out.push_str(&window_ms.to_string());
    out
}

/// The GCRA bucket of `user_key` under `policy`: one hash, a `tat` field per window
/// ([`gcra_field`]).
pub fn gcra_key(prefix: &str, user_key: &str, policy: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + user_key.len() + policy.len() + 12);
    out.push_str(prefix);
    out.push_str("c:{");
    encode_into(user_key, &mut out);
    out.push_str("}:");
    out.push_str(policy);
    out.push(':');
    out.push_str(GCRA_SUFFIX);
    out
}

/// The field of a GCRA bucket holding the `tat` of the window of `window_ms`.
pub fn gcra_field(window_ms: u64) -> String {
    window_ms.to_string()
}

/// Reads a GCRA bucket's key name back into its parts; `None` for any other key.
pub fn parse_gcra_key(prefix: &str, name: &str) -> Option<GcraKey> {
    let rest = name.strip_prefix(prefix)?.strip_prefix("c:{")?;
    let close = rest.find('}')?;
    let user_key = decode(&rest[..close])?;
    let (policy, suffix) = rest[close + 1..].strip_prefix(':')?.split_once(':')?;
    crate::policy::validate_name(policy).ok()?;
    (suffix == GCRA_SUFFIX).then(|| GcraKey {
        user_key,
        policy: policy.to_owned(),
    })
}

/// Every counter name `user_key` can have under `policies`: for each policy whose pattern
/// matches it (`default` matches every key), each window's counter, or the one GCRA bucket of a
/// `gcra` policy, in the order of the policies and their windows, each name once. A counter
/// reset deletes exactly these, with no walk of the keyspace.
pub fn counter_keys_of<'a>(
    prefix: &str,
    user_key: &str,
    policies: impl IntoIterator<Item = &'a Policy>,
) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    policies
        .into_iter()
        .filter(|p| p.matches(user_key))
        .flat_map(|p| match p.algorithm {
            Algorithm::Gcra => vec![gcra_key(prefix, user_key, &p.name)],
            Algorithm::SlidingWindow => p
                .windows
                .iter()
                .map(|w| counter_key(prefix, user_key, &p.name, w.window_ms))
                .collect(),
        })
        .filter(|name| seen.insert(name.clone()))
        .collect()
}

/// The `SCAN MATCH` pattern of every counter whose user key starts with `user_key_prefix`
/// (empty: every counter), GCRA buckets included.
pub fn counter_scan_pattern(prefix: &str, user_key_prefix: &str) -> String {
    let mut enc = String::new();
    encode_into(user_key_prefix, &mut enc);
    format!("{}c:{{{}*", glob_escape(prefix), glob_escape(&enc))
}

/// The `SCAN MATCH` pattern of every counter of exactly `user_key` (all policies and windows).
pub fn counter_scan_pattern_exact(prefix: &str, user_key: &str) -> String {
    let mut enc = String::new();
    encode_into(user_key, &mut enc);
    format!("{}c:{{{}}}:*", glob_escape(prefix), glob_escape(&enc))
}

/// The `SCAN MATCH` pattern of every key under the prefix.
pub fn all_keys_pattern(prefix: &str) -> String {
    format!("{}*", glob_escape(prefix))
}

/// The hash tag of the keys every node shares (`policies`, `nodes`): one slot on a cluster.
pub const SHARED_TAG: &str = "{shared}";

/// The hash of policies and their version: `P{shared}:policies`.
pub fn policies_key(prefix: &str) -> String {
    format!("{prefix}{SHARED_TAG}:policies")
}

/// The near caches' reset epoch: `P{shared}:near_resets` (bumped on every counter reset).
pub fn near_reset_key(prefix: &str) -> String {
    format!("{prefix}{SHARED_TAG}:near_resets")
}

/// The name of the policies hash before the shared hash tag (`P policies`), migrated on start.
pub fn legacy_policies_key(prefix: &str) -> String {
    format!("{prefix}policies")
}

/// The name of the node registry before the shared hash tag (`P nodes`), migrated on start.
pub fn legacy_nodes_key(prefix: &str) -> String {
    format!("{prefix}nodes")
}

/// The `policies` hash field of the policy `name`.
pub fn policy_field(name: &str) -> String {
    format!("{POLICY_FIELD_PREFIX}{name}")
}

/// The hash of registered nodes: `P{shared}:nodes`.
pub fn nodes_key(prefix: &str) -> String {
    format!("{prefix}{SHARED_TAG}:nodes")
}

/// The block of one client (its fingerprint, e.g. `ip:fp-...`): exists while it is blocked.
pub fn abuse_block_key(prefix: &str, client: &str) -> String {
    let mut out = format!("{prefix}abuse:b:{{");
    encode_into(client, &mut out);
    out.push('}');
    out
}

/// The HyperLogLog of the API keys `client` used in `minute` (Unix ms / 60 000); same hash
/// tag as [`abuse_block_key`], so one script may touch both.
pub fn abuse_keys_key(prefix: &str, client: &str, minute: u64) -> String {
    let mut out = format!("{prefix}abuse:k:{{");
    encode_into(client, &mut out);
    out.push_str("}:");
    out.push_str(&minute.to_string());
    out
}

/// The key the circuit breaker's half-open probe of node `node_id` writes (a short-lived
/// counter hash; it never parses as a counter key).
pub fn probe_key(prefix: &str, node_id: &str) -> String {
    let mut out = format!("{prefix}probe:{{");
    encode_into(node_id, &mut out);
    out.push('}');
    out
}

/// The probe key of node `node_id` for one cluster shard: `salt` is chosen by the caller so
/// that the key's slot ([`crate::cluster::key_slot`]) falls in that shard.
pub fn probe_key_salted(prefix: &str, node_id: &str, salt: u32) -> String {
    let mut out = format!("{prefix}probe:{{");
    encode_into(node_id, &mut out);
    out.push(':');
    out.push_str(&salt.to_string());
    out.push('}');
    out
}

/// Reads a counter key name back into its parts; `None` for any other key.
pub fn parse_counter_key(prefix: &str, name: &str) -> Option<CounterKey> {
    let rest = name.strip_prefix(prefix)?.strip_prefix("c:{")?;
    let close = rest.find('}')?;
    let user_key = decode(&rest[..close])?;
    let (policy, window) = rest[close + 1..].strip_prefix(':')?.split_once(':')?;
    crate::policy::validate_name(policy).ok()?;
    if window.is_empty() || !window.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let window_ms = window.parse().ok()?;
    Some(CounterKey {
        user_key,
        policy: policy.to_owned(),
        window_ms,
    })
}

/// Percent-encodes `%`, `{`, `}` and control characters.
pub fn encode_user_key(user_key: &str) -> String {
    let mut out = String::with_capacity(user_key.len());
    encode_into(user_key, &mut out);
    out
}

fn encode_into(user_key: &str, out: &mut String) {
    for c in user_key.chars() {
        if matches!(c, '%' | '{' | '}') || c.is_ascii_control() {
            let b = c as u32; // ASCII here, so one byte.
            out.push('%');
            out.push(hex_digit(b >> 4));
            out.push(hex_digit(b & 0xf));
        } else {
            out.push(c);
        }
    }
}

/// Inverse of [`encode_user_key`]; `None` for malformed input (a stray `%`, an encoded byte
/// that should not have been, or invalid UTF-8).
pub fn decode_user_key(encoded: &str) -> Option<String> {
    decode(encoded)
}

fn decode(encoded: &str) -> Option<String> {
    if encoded.contains(['{', '}']) {
        return None;
    }
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hi = hex_value(*bytes.get(i + 1)?)?;
            let lo = hex_value(*bytes.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn hex_digit(v: u32) -> char {
    char::from_digit(v, 16).unwrap_or('0').to_ascii_uppercase()
}

fn hex_value(b: u8) -> Option<u8> {
    (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\' | '^') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests;
