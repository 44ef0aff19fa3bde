//! What this node remembers about the clients it screened, so that most requests need no Redis
//! call: a client known to be blocked is refused at once, and a key the client already used
//! this minute (and counted in Redis) is not counted again. Bounded: at most [`MAX_CLIENTS`]
//! clients and [`MAX_KEYS_PER_CLIENT`] keys each. Pure: callers pass the time.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// Clients remembered at most.
pub const MAX_CLIENTS: usize = 10_000;

/// Keys remembered per client at most; past it, each further key is asked of Redis (a client
/// with that many keys in a minute is near the enumeration limit anyway).
pub const MAX_KEYS_PER_CLIENT: usize = 64;

/// How stale the knowledge "this client is not blocked" may get before Redis is asked again:
/// the most a block made by another node takes to reach this one for keys already seen here.
pub const RECHECK_MS: u64 = 1_000;

/// What the table says about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Known {
    /// Blocked here for `retry_ms` more.
    Blocked {
        /// Time left.
        retry_ms: u64,
    },
    /// Not blocked a moment ago and this key already counted: no Redis call needed.
    Clear,
    /// Ask Redis whether the client is blocked (the key, if any, is already counted).
    Check,
    /// Count the key in Redis (and learn whether the client is blocked).
    Count,
}

#[derive(Debug, Default)]
struct Entry {
    blocked_until_ms: u64,
    checked_ms: u64,
    minute: u64,
    keys: HashSet<u64>,
}

/// The table, shared by every request of a node.
#[derive(Debug, Default)]
pub struct Clients {
    map: Mutex<HashMap<String, Entry>>,
}

impl Clients {
    /// What to do for `client` using `key` (a short hash of its fingerprint; `None` for a
    /// request without an API key, or when keys are not counted) at `now_ms`.
    pub fn lookup(&self, client: &str, key: Option<u64>, now_ms: u64) -> Known {
        let map = self.lock();
        let Some(e) = map.get(client) else {
            return if key.is_some() {
                Known::Count
            } else {
                Known::Check
            };
        };
        if e.blocked_until_ms > now_ms {
            return Known::Blocked {
                retry_ms: e.blocked_until_ms - now_ms,
            };
        }
        let counted = key.is_none_or(|k| e.minute == now_ms / 60_000 && e.keys.contains(&k));
        match (counted, now_ms.saturating_sub(e.checked_ms) < RECHECK_MS) {
            (false, _) => Known::Count,
            (true, true) => Known::Clear,
            (true, false) => Known::Check,
        }
    }

    /// Redis said `client` is not blocked at `now_ms`, and counted `key` if given.
    pub fn record_clear(&self, client: &str, key: Option<u64>, now_ms: u64) {
        let mut map = self.lock();
        let e = entry(&mut map, client, now_ms);
        e.checked_ms = now_ms;
        e.blocked_until_ms = 0;
        let minute = now_ms / 60_000;
        if e.minute != minute {
            e.minute = minute;
            e.keys.clear();
        }
        if let Some(k) = key.filter(|_| e.keys.len() < MAX_KEYS_PER_CLIENT) {
            e.keys.insert(k);
        }
    }

    /// `client` is blocked until `until_ms`.
    pub fn record_block(&self, client: &str, until_ms: u64, now_ms: u64) {
        let mut map = self.lock();
        let e = entry(&mut map, client, now_ms);
        e.blocked_until_ms = until_ms;
        e.checked_ms = now_ms;
    }

    /// Clients remembered now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // A poisoned lock only means a request panicked mid-update; entries stay plain data.
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The entry of `client`, making room first when the table is full: entries neither blocked
/// nor checked in the last minute go first, then arbitrary ones (a tenth), so memory stays
/// bounded under a flood of addresses. A dropped entry only costs a Redis call later.
fn entry<'a>(map: &'a mut HashMap<String, Entry>, client: &str, now_ms: u64) -> &'a mut Entry {
    if !map.contains_key(client) && map.len() >= MAX_CLIENTS {
        map.retain(|_, e| {
            e.blocked_until_ms > now_ms || now_ms - e.checked_ms.min(now_ms) < 60_000
        });
        if map.len() >= MAX_CLIENTS {
            let mut seen = 0usize;
            map.retain(|_, _| {
                seen += 1;
                seen > MAX_CLIENTS / 10
            });
        }
    }
    map.entry(client.to_owned()).or_default()
}

/// A short hash of a key fingerprint (`api:fp-<hex>`): its first 16 hex digits, which are
/// already uniformly distributed (an HMAC); any other text is hashed.
pub fn key_hash(fingerprint: &str) -> u64 {
    let hex = fingerprint.rsplit_once("fp-").map_or("", |(_, h)| h);
    hex.get(..16)
        .and_then(|h| u64::from_str_radix(h, 16).ok())
        .unwrap_or_else(|| {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            fingerprint.hash(&mut h);
            h.finish()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counted_key_needs_no_redis_call_until_the_recheck() {
        let c = Clients::default();
        assert_eq!(c.lookup("a", Some(1), 1_000), Known::Count);
        c.record_clear("a", Some(1), 1_000);
        assert_eq!(c.lookup("a", Some(1), 1_500), Known::Clear);
        assert_eq!(c.lookup("a", Some(2), 1_500), Known::Count, "a new key");
        assert_eq!(c.lookup("a", None, 1_500), Known::Clear);
        assert_eq!(c.lookup("a", Some(1), 2_000), Known::Check, "stale");
        assert_eq!(c.lookup("a", Some(1), 61_000), Known::Count, "a new minute");
        assert_eq!(c.lookup("b", None, 1_000), Known::Check);
    }

    #[test]
    fn a_block_is_answered_locally_until_it_ends() {
        let c = Clients::default();
        c.record_block("a", 11_000, 1_000);
        assert_eq!(
            c.lookup("a", Some(9), 4_000),
            Known::Blocked { retry_ms: 7_000 }
        );
        assert_eq!(c.lookup("a", None, 11_000), Known::Check);
    }

    #[test]
    fn memory_stays_bounded() {
        let c = Clients::default();
        for i in 0..(MAX_CLIENTS + MAX_CLIENTS / 2) {
            c.record_clear(&format!("ip:{i}"), Some(1), 5_000);
        }
        assert!(c.len() <= MAX_CLIENTS, "{} clients", c.len());
        for k in 0..(MAX_KEYS_PER_CLIENT as u64 * 2) {
            c.record_clear("x", Some(k), 5_000);
        }
        assert_eq!(
            c.lookup("x", Some(MAX_KEYS_PER_CLIENT as u64 + 1), 5_001),
            Known::Count
        );
    }

    #[test]
    fn key_hashes_use_the_fingerprint_digits() {
        assert_eq!(key_hash("api:fp-00000000000000ff0123"), 0xff);
        assert_ne!(key_hash("api:plain"), key_hash("api:other"));
    }
}
