//! The abuse script (`lua/abuse.lua`): one call per screened request that reads the client's
//! block and, for a new API key, counts it in the client's HyperLogLog of the minute.

use std::time::Duration;

use ratelimiter_schema::keys;

use super::handle::{CallKind, Store};
use crate::error::StoreError;

/// TTL of a client's per-minute HyperLogLog: two minutes, so the minute just ended can still be
/// read and nothing outlives it by much.
pub const KEYS_HLL_TTL_MS: u64 = 120_000;

/// What one screening asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbuseAsk<'a> {
    /// Is the client blocked? (A request without an API key, or a key already counted.)
    Check,
    /// Count this API key fingerprint; block past `limit` distinct keys this minute (0: never).
    Count {
        /// The key's fingerprint.
        key: &'a str,
        /// The enumeration limit.
        limit: u64,
    },
    /// The client used a honeypot key: block it now.
    Honeypot,
}

/// The client's state after the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbuseState {
    /// Not blocked; `distinct_keys` when this call counted a new key.
    Clear {
        /// Distinct keys this minute, when counted.
        distinct_keys: Option<u64>,
    },
    /// Already blocked (by any node), for `ttl_ms` more.
    Blocked {
        /// Time left.
        ttl_ms: u64,
    },
    /// Blocked by this call, for `ttl_ms`.
    NewlyBlocked {
        /// The block's length.
        ttl_ms: u64,
        /// Distinct keys that passed the limit (enumeration only).
        distinct_keys: Option<u64>,
    },
}

/// What the abuse script answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbuseReply {
    /// The client's state.
    pub state: AbuseState,
    /// Redis time of the call, Unix ms.
    pub redis_now_ms: u64,
}

impl Store {
    /// Screens `client` (a fingerprint such as `ip:fp-...`) in `minute` (Unix ms / 60 000):
    /// one script call, skipped (an error) while the breaker is open, so a Redis that cannot
    /// write never slows the decision path more than the decision itself.
    ///
    /// # Errors
    /// [`StoreError::Skipped`] with the breaker open, else Redis failures or timeouts.
    pub async fn screen(
        &self,
        client: &str,
        minute: u64,
        ask: AbuseAsk<'_>,
        block: Duration,
    ) -> Result<AbuseReply, StoreError> {
        let (mode, key, limit) = match ask {
            AbuseAsk::Check => ("check", "", 0),
            AbuseAsk::Count { key, limit } => ("count", key, limit),
            AbuseAsk::Honeypot => ("honeypot", "", 0),
        };
        let block_ms = u64::try_from(block.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut call = self.abuse.call();
        call.key(keys::abuse_block_key(&self.prefix, client))
            .key(keys::abuse_keys_key(&self.prefix, client, minute))
            .arg(mode)
            .arg(key)
            .arg(limit)
            .arg(block_ms)
            .arg(KEYS_HLL_TTL_MS);
        let route = self.shards.route(call.first_key());
        if route.breaker.is_open() {
            return Err(StoreError::Skipped);
        }
        let reply: Vec<i64> = self
            .call(
                CallKind::DecisionPath(&route.breaker),
                self.timeout,
                self.invoke_routed(&call, &route),
            )
            .await?;
        parse_abuse_reply(&reply)
    }
}

fn parse_abuse_reply(reply: &[i64]) -> Result<AbuseReply, StoreError> {
    let bad = || StoreError::Reply(format!("abuse script returned {reply:?}"));
    let [state, ttl, distinct, now] = *reply else {
        return Err(bad());
    };
    let ttl_ms = u64::try_from(ttl).map_err(|_| bad())?;
    let distinct_keys = u64::try_from(distinct).ok();
    let state = match state {
        0 => AbuseState::Clear { distinct_keys },
        1 => AbuseState::Blocked { ttl_ms },
        2 => AbuseState::NewlyBlocked {
            ttl_ms,
            distinct_keys,
        },
        _ => return Err(bad()),
    };
    Ok(AbuseReply {
        state,
        redis_now_ms: u64::try_from(now).map_err(|_| bad())?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abuse_replies_are_read_strictly() {
        let r = parse_abuse_reply(&[2, 600_000, 101, 5]).unwrap();
        assert_eq!(
            r.state,
            AbuseState::NewlyBlocked {
                ttl_ms: 600_000,
                distinct_keys: Some(101)
            }
        );
        assert_eq!(
            parse_abuse_reply(&[0, 0, -1, 5]).unwrap().state,
            AbuseState::Clear {
                distinct_keys: None
            }
        );
        for bad in [
            &[0, 0, 0][..],
            &[3, 0, 0, 5],
            &[1, -5, 0, 5],
            &[0, 0, 0, -1],
        ] {
            assert!(parse_abuse_reply(bad).is_err(), "{bad:?}");
        }
    }
}
