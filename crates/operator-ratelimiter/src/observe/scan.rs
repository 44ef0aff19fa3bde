//! The incremental scan of the prefix: a bounded number of keys per observation, resumed at the
//! next one, so the cost per tick stays small on a large keyspace. Keys found without a TTL are
//! remembered and re-checked every observation until they get one or disappear.

use std::collections::BTreeSet;
use std::time::Duration;

use ratelimiter_schema::keys::{self, FIELD_CURRENT, FIELD_WINDOW};
use ratelimiter_schema::{CounterKey, Policy};

use crate::config::RateLimiterConfig;
use crate::error::Result;
use crate::observation::{KeyKind, KeyScan, OverAdmitted, StuckKey};
use crate::redact;
use crate::redis_handle::RedisHandle;

/// Most stuck keys remembered (and re-checked) at once; past it, a count is still reported.
const MAX_TRACKED: usize = 1_000;
/// Most stuck keys listed in one observation.
const MAX_LISTED: usize = 20;

/// Where the scan is, across observations.
#[derive(Debug, Default)]
pub(crate) struct ScanState {
    cursor: u64,
    passes: u64,
    run_id: String,
    stuck: BTreeSet<String>,
}

impl ScanState {
    /// Starts over when Redis is a different server (restarted, or failed over): its keyspace
    /// and cursors are new.
    pub(crate) fn restart_if_new_server(&mut self, run_id: &str) {
        if self.run_id != run_id {
            *self = ScanState {
                run_id: run_id.to_owned(),
                ..Default::default()
            };
        }
    }

    /// Scans up to the budget, then checks TTLs (and counters' values) of what it found plus the
    /// stuck keys already known.
    pub(crate) async fn step(
        &mut self,
        redis: &RedisHandle,
        config: &RateLimiterConfig,
        policies: &[Policy],
        now_ms: u64,
    ) -> Result<KeyScan> {
        let (found, examined) = self.walk(redis, config).await?;
        let scanned = found.len() as u64;

        // Known stuck keys are re-checked with the new ones, in one pipeline.
        let mut candidates: Vec<String> = self.stuck.iter().cloned().collect();
        candidates.extend(found.into_iter().filter(|k| !self.stuck.contains(k)));
        let counters: Vec<(usize, CounterKey)> = candidates
            .iter()
            .enumerate()
            .filter_map(|(i, k)| keys::parse_counter_key(&config.key_prefix, k).map(|ck| (i, ck)))
            .collect();
        let counter_names = counters
            .iter()
            .map(|(i, _)| candidates[*i].clone())
            .collect();
        let (ttls, values) = probe(
            redis,
            config.redis_timeout * 2,
            candidates.clone(),
            counter_names,
        )
        .await?;

        for (name, ttl) in candidates.iter().zip(&ttls) {
            if *ttl == -1 {
                if self.stuck.len() < MAX_TRACKED {
                    self.stuck.insert(name.clone());
                }
            } else {
                self.stuck.remove(name);
            }
        }
        let over_admitted = counters
            .iter()
            .zip(values)
            .filter_map(|((_, ck), (window, count))| {
                over_limit(ck, window?, count?, policies, now_ms)
            })
            .collect();
        let stuck = self
            .stuck
            .iter()
            .take(MAX_LISTED)
            .map(|k| StuckKey {
                key: redact::key_name(&config.key_prefix, k),
                kind: KeyKind::of(&config.key_prefix, k),
            })
            .collect();
        Ok(KeyScan {
            scanned,
            examined,
            cursor: self.cursor,
            passes: self.passes,
            dbsize: None,
            stuck,
            stuck_total: self.stuck.len(),
            over_admitted,
        })
    }

    /// Walks the keyspace from the saved cursor until the budget is spent or the pass ends:
    /// the keys under the prefix found, and how many keys of the database were examined.
    async fn walk(
        &mut self,
        redis: &RedisHandle,
        config: &RateLimiterConfig,
    ) -> Result<(Vec<String>, u64)> {
        let pattern = keys::all_keys_pattern(&config.key_prefix);
        let mut found: Vec<String> = Vec::new();
        let mut cursor = self.cursor;
        let bound = config.redis_timeout * 2;
        let mut calls = 0usize;
        loop {
            let (c, pat, count) = (cursor, pattern.clone(), config.scan_count);
            let (next, batch): (u64, Vec<String>) = redis
                .run(bound, move |mut conn| async move {
                    redis::cmd("SCAN")
                        .arg(c)
                        .arg("MATCH")
                        .arg(pat)
                        .arg("COUNT")
                        .arg(count)
                        .query_async(&mut conn)
                        .await
                })
                .await?;
            found.extend(batch);
            cursor = next;
            calls += 1;
            // The budget bounds the keys Redis examines (each call walks about `COUNT` of the
            // whole keyspace, matching or not), so a sparse prefix in a large database costs the
            // same per tick as a dense one; it also bounds the matches to check.
            if cursor == 0
                || calls * config.scan_count >= config.scan_budget
                || found.len() >= config.scan_budget
            {
                break;
            }
        }
        if cursor == 0 {
            self.passes += 1;
        }
        self.cursor = cursor;
        Ok((found, (calls * config.scan_count) as u64))
    }
}

/// `PTTL` of every name in `names` (-2 when gone) and the current window and count of every
/// counter in `counters`, in one pipeline.
async fn probe(
    redis: &RedisHandle,
    bound: Duration,
    names: Vec<String>,
    counters: Vec<String>,
) -> Result<(Vec<i64>, Vec<(Option<u64>, Option<u64>)>)> {
    redis
        .run(bound, move |mut conn| async move {
            let mut pipe = redis::pipe();
            for k in &names {
                pipe.cmd("PTTL").arg(k);
            }
            for k in &counters {
                pipe.cmd("HMGET")
                    .arg(k)
                    .arg(FIELD_WINDOW)
                    .arg(FIELD_CURRENT);
            }
            let mut all: Vec<redis::Value> = pipe.query_async(&mut conn).await?;
            let values = all.split_off(names.len());
            let ttls: Vec<i64> = all
                .into_iter()
                .map(|v| redis::from_redis_value(v).unwrap_or(-2))
                .collect();
            let values: Vec<(Option<u64>, Option<u64>)> = values
                .into_iter()
                .map(|v| redis::from_redis_value(v).unwrap_or((None, None)))
                .collect();
            Ok((ttls, values))
        })
        .await
}

/// The over-admission shown by one counter, if any: more cost counted in the *current* window
/// than the window's limit (the script never lets that happen).
fn over_limit(
    ck: &CounterKey,
    window: u64,
    count: u64,
    policies: &[Policy],
    now_ms: u64,
) -> Option<OverAdmitted> {
    let current = now_ms / ck.window_ms.max(1);
    if window != current {
        return None;
    }
    let policy = policies.iter().find(|p| p.name == ck.policy)?;
    let limit = policy
        .windows
        .iter()
        .find(|w| w.window_ms == ck.window_ms)?
        .limit;
    (count > limit).then(|| OverAdmitted {
        key: redact::user_key(&ck.user_key),
        policy: ck.policy.clone(),
        window_ms: ck.window_ms,
        count,
        limit,
    })
}
