//! Counters in Redis: cursor-paginated listing (sliding-window counters and GCRA buckets, one
//! entry per window), and deletion of named counters (a reset).

use std::collections::BTreeMap;

use ratelimiter_schema::keys;
use ratelimiter_schema::{Algorithm, CounterEntry, CountersPage};
use redis::Value;

use super::handle::Store;
use crate::error::StoreError;

impl Store {
    /// One `SCAN` step over the counters whose user key starts with `user_prefix`, with each
    /// counter's fields and TTL. Continue from `next_cursor` until it is `"0"`.
    ///
    /// # Errors
    /// Redis failures or timeouts.
    pub async fn scan_counters(
        &self,
        user_prefix: &str,
        cursor: u64,
        count: u64,
    ) -> Result<CountersPage, StoreError> {
        // On a cluster the cursor walks the primaries in turn (the slot map's order): its top
        // byte is the primary's index, the rest that primary's own SCAN cursor.
        let map = self.shards.map();
        let cluster = self.mode() == ratelimiter_schema::RedisMode::Cluster;
        let (shard, cursor) = if cluster {
            split_cursor(cursor)
        } else {
            (0, cursor)
        };
        let mut conn = if cluster {
            let Some(primary) = map.get(shard) else {
                return Ok(CountersPage {
                    next_cursor: "0".into(),
                    counters: Vec::new(),
                });
            };
            self.conn.primary(&primary.address).ok_or_else(|| {
                StoreError::Reply(format!("bad primary address {}", primary.address))
            })?
        } else {
            self.conn()
        };
        let pattern = keys::counter_scan_pattern(&self.prefix, user_prefix);
        let (next, names): (String, Vec<String>) = self
            .admin(
                redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(count)
                    .query_async(&mut conn),
            )
            .await?;
        let next = if cluster {
            let inner: u64 = next
                .parse()
                .map_err(|_| StoreError::Reply(format!("SCAN cursor {next:?}")))?;
            join_cursor(shard, inner, map.len())?
        } else {
            next
        };
        let parsed: Vec<(String, Parsed)> = names
            .into_iter()
            .filter_map(|n| Parsed::of(&self.prefix, &n).map(|k| (n, k)))
            .collect();
        if parsed.is_empty() {
            return Ok(CountersPage {
                next_cursor: next,
                counters: Vec::new(),
            });
        }
        let mut pipe = redis::pipe();
        for (name, key) in &parsed {
            match key {
                Parsed::Counter(_) => {
                    pipe.cmd("HMGET")
                        .arg(name)
                        .arg(keys::FIELD_WINDOW)
                        .arg(keys::FIELD_CURRENT)
                        .arg(keys::FIELD_PREVIOUS);
                }
                Parsed::Gcra(_) => {
                    pipe.cmd("HGETALL").arg(name);
                }
            }
            pipe.cmd("PTTL").arg(name);
        }
        let values: Vec<Value> = self.admin(pipe.query_async(&mut conn)).await?;
        let mut counters = Vec::with_capacity(parsed.len());
        for ((name, key), pair) in parsed.into_iter().zip(values.chunks_exact(2)) {
            let ttl_ms: i64 = redis::from_redis_value_ref(&pair[1])
                .map_err(|e| StoreError::Reply(e.to_string()))?;
            match key {
                Parsed::Counter(key) => {
                    let fields: Vec<Option<u64>> = redis::from_redis_value_ref(&pair[0])
                        .map_err(|e| StoreError::Reply(e.to_string()))?;
                    let field = |i: usize| fields.get(i).copied().flatten().unwrap_or(0);
                    counters.push(CounterEntry {
                        key: key.user_key,
                        policy: key.policy,
                        window_ms: key.window_ms,
                        redis_key: name,
                        window_index: field(0),
                        current: field(1),
                        previous: field(2),
                        ttl_ms,
                        algorithm: Algorithm::SlidingWindow,
                        tat_us: None,
                    });
                }
                Parsed::Gcra(key) => {
                    let fields: BTreeMap<String, String> = redis::from_redis_value_ref(&pair[0])
                        .map_err(|e| StoreError::Reply(e.to_string()))?;
                    // One entry per window field, in window order; a field that is not a
                    // window length and a tat is not this schema's and is skipped.
                    let mut windows: Vec<(u64, u64)> = fields
                        .iter()
                        .filter_map(|(f, v)| Some((f.parse().ok()?, v.parse().ok()?)))
                        .collect();
                    windows.sort_unstable();
                    for (window_ms, tat_us) in windows {
                        counters.push(CounterEntry {
                            key: key.user_key.clone(),
                            policy: key.policy.clone(),
                            window_ms,
                            redis_key: name.clone(),
                            window_index: 0,
                            current: 0,
                            previous: 0,
                            ttl_ms,
                            algorithm: Algorithm::Gcra,
                            tat_us: Some(tat_us),
                        });
                    }
                }
            }
        }
        Ok(CountersPage {
            next_cursor: next,
            counters,
        })
    }

    /// Deletes the counters named `names` (computed from the policies, see
    /// [`keys::counter_key`]); returns those that existed. One pipelined call, no scan.
    ///
    /// # Errors
    /// Redis failures or timeouts.
    pub async fn delete_counters(&self, names: &[String]) -> Result<Vec<String>, StoreError> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.conn();
        let mut pipe = redis::pipe();
        for name in names {
            pipe.cmd("DEL").arg(name);
        }
        let removed: Vec<u64> = self.admin(pipe.query_async(&mut conn)).await?;
        Ok(names
            .iter()
            .zip(removed)
            .filter(|(_, n)| *n > 0)
            .map(|(name, _)| name.clone())
            .collect())
    }
}

/// A listed key, by the key schema.
enum Parsed {
    /// A sliding-window counter.
    Counter(keys::CounterKey),
    /// A GCRA bucket.
    Gcra(keys::GcraKey),
}

impl Parsed {
    fn of(prefix: &str, name: &str) -> Option<Self> {
        keys::parse_counter_key(prefix, name)
            .map(Self::Counter)
            .or_else(|| keys::parse_gcra_key(prefix, name).map(Self::Gcra))
    }
}

/// Bits of a cluster counters cursor that hold one primary's own SCAN cursor.
const INNER_BITS: u32 = 56;

/// A cluster counters cursor: (index of the primary, its SCAN cursor).
fn split_cursor(cursor: u64) -> (usize, u64) {
    let shard = usize::try_from(cursor >> INNER_BITS).unwrap_or(usize::MAX);
    (shard, cursor & ((1 << INNER_BITS) - 1))
}

/// The cursor after primary `shard` answered `inner`: the same primary while it has more, the
/// next one from its start, `"0"` after the last of `shards`.
fn join_cursor(shard: usize, inner: u64, shards: usize) -> Result<String, StoreError> {
    if inner >= 1 << INNER_BITS {
        return Err(StoreError::Reply(format!("SCAN cursor {inner} too large")));
    }
    let (shard, inner) = if inner == 0 {
        (shard + 1, 0)
    } else {
        (shard, inner)
    };
    if shard >= shards {
        return Ok("0".into());
    }
    let shard = u64::try_from(shard).unwrap_or(u64::MAX);
    Ok(((shard << INNER_BITS) | inner).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_cursor_walks_every_primary_then_ends() {
        assert_eq!(split_cursor(0), (0, 0));
        assert_eq!(join_cursor(0, 17, 3).unwrap(), "17");
        let second: u64 = join_cursor(0, 0, 3).unwrap().parse().unwrap();
        assert_eq!(split_cursor(second), (1, 0));
        let mid: u64 = join_cursor(1, 42, 3).unwrap().parse().unwrap();
        assert_eq!(split_cursor(mid), (1, 42));
        assert_eq!(join_cursor(2, 0, 3).unwrap(), "0", "after the last primary");
        assert!(join_cursor(0, 1 << INNER_BITS, 3).is_err());
    }
}
