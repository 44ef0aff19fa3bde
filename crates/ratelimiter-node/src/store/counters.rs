//! Counters in Redis: cursor-paginated listing and reset of one user key.

use ratelimiter_schema::keys;
use ratelimiter_schema::{CounterEntry, CountersPage};
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
        let mut conn = self.conn();
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
        let parsed: Vec<(String, keys::CounterKey)> = names
            .into_iter()
            .filter_map(|n| keys::parse_counter_key(&self.prefix, &n).map(|k| (n, k)))
            .collect();
        if parsed.is_empty() {
            return Ok(CountersPage {
                next_cursor: next,
                counters: Vec::new(),
            });
        }
        let mut pipe = redis::pipe();
        for (name, _) in &parsed {
            pipe.cmd("HMGET")
                .arg(name)
                .arg(keys::FIELD_WINDOW)
                .arg(keys::FIELD_CURRENT)
                .arg(keys::FIELD_PREVIOUS);
            pipe.cmd("PTTL").arg(name);
        }
        let values: Vec<Value> = self.admin(pipe.query_async(&mut conn)).await?;
        let mut counters = Vec::with_capacity(parsed.len());
        for ((name, key), pair) in parsed.into_iter().zip(values.chunks_exact(2)) {
            let fields: Vec<Option<u64>> = redis::from_redis_value_ref(&pair[0])
                .map_err(|e| StoreError::Reply(e.to_string()))?;
            let ttl_ms: i64 = redis::from_redis_value_ref(&pair[1])
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
            });
        }
        Ok(CountersPage {
            next_cursor: next,
            counters,
        })
    }

    /// Deletes every counter of `user_key` (all policies and windows); returns how many.
    ///
    /// # Errors
    /// Redis failures or timeouts.
    pub async fn reset_counters(&self, user_key: &str) -> Result<u64, StoreError> {
        let mut conn = self.conn();
        let pattern = keys::counter_scan_pattern_exact(&self.prefix, user_key);
        let mut cursor = 0u64;
        let mut deleted = 0u64;
        loop {
            let (next, names): (u64, Vec<String>) = self
                .admin(
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(1000)
                        .query_async(&mut conn),
                )
                .await?;
            if !names.is_empty() {
                let n: u64 = self
                    .admin(redis::cmd("DEL").arg(&names).query_async(&mut conn))
                    .await?;
                deleted += n;
            }
            if next == 0 {
                return Ok(deleted);
            }
            cursor = next;
        }
    }
}
