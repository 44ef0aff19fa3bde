//! Counters in Redis: cursor-paginated listing, and deletion of named counters (a reset).

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
