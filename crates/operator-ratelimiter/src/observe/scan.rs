//! The incremental scan of the prefix: a bounded number of keys per observation, resumed at the
//! next one, so the cost per tick stays small on a large keyspace. Keys found without a TTL are
//! remembered and re-checked every observation until they get one or disappear.
//!
//! Over-admission is read off both kinds of counter: a sliding-window counter holding more
//! than its limit in the current window, and a GCRA bucket whose `tat` runs further ahead of
//! Redis time than `tau` (more than `burst` units in use). The bucket check reads Redis `TIME`
//! after the buckets, in the same pipeline, so a bucket cannot look fuller than it was.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use ratelimiter_schema::keys::{self, FIELD_CURRENT, FIELD_WINDOW, GcraKey};
use ratelimiter_schema::{Algorithm, CounterKey, Policy};

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
        let buckets: Vec<(usize, GcraKey)> = candidates
            .iter()
            .enumerate()
            .filter_map(|(i, k)| keys::parse_gcra_key(&config.key_prefix, k).map(|gk| (i, gk)))
            .collect();
        let names = |of: &[usize]| of.iter().map(|i| candidates[*i].clone()).collect();
        let probed = probe(
            redis,
            config.redis_timeout * 2,
            candidates.clone(),
            names(&counters.iter().map(|(i, _)| *i).collect::<Vec<_>>()),
            names(&buckets.iter().map(|(i, _)| *i).collect::<Vec<_>>()),
        )
        .await?;
        let Probed {
            ttls,
            values,
            buckets: tats,
            now_us,
        } = probed;

        for (name, ttl) in candidates.iter().zip(&ttls) {
            if *ttl == -1 {
                if self.stuck.len() < MAX_TRACKED {
                    self.stuck.insert(name.clone());
                }
            } else {
                self.stuck.remove(name);
            }
        }
        let mut over_admitted: Vec<OverAdmitted> = counters
            .iter()
            .zip(values)
            .filter_map(|((_, ck), (window, count))| {
                over_limit(ck, window?, count?, policies, now_ms)
            })
            .collect();
        over_admitted.extend(
            buckets
                .iter()
                .zip(&tats)
                .flat_map(|((_, gk), fields)| over_burst(gk, fields, policies, now_us)),
        );
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

/// What one probe pipeline read.
struct Probed {
    /// `PTTL` of every name (-2 when gone).
    ttls: Vec<i64>,
    /// The current window and count of every sliding-window counter.
    values: Vec<(Option<u64>, Option<u64>)>,
    /// The fields (window length → `tat`) of every GCRA bucket.
    buckets: Vec<HashMap<String, String>>,
    /// Redis `TIME` after the reads, Unix µs (0 when there was no bucket to judge).
    now_us: u64,
}

/// `PTTL` of every name in `names`, the current window and count of every counter in
/// `counters`, the fields of every GCRA bucket in `buckets` and then Redis `TIME`, in one
/// pipeline.
async fn probe(
    redis: &RedisHandle,
    bound: Duration,
    names: Vec<String>,
    counters: Vec<String>,
    buckets: Vec<String>,
) -> Result<Probed> {
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
            for k in &buckets {
                pipe.cmd("HGETALL").arg(k);
            }
            if !buckets.is_empty() {
                pipe.cmd("TIME");
            }
            let mut all: Vec<redis::Value> = pipe.query_async(&mut conn).await?;
            let mut rest = all.split_off(names.len());
            let mut tail = rest.split_off(counters.len());
            let time = (!buckets.is_empty()).then(|| tail.pop()).flatten();
            let ttls = all
                .into_iter()
                .map(|v| redis::from_redis_value(v).unwrap_or(-2))
                .collect();
            let values = rest
                .into_iter()
                .map(|v| redis::from_redis_value(v).unwrap_or((None, None)))
                .collect();
            let buckets = tail
                .into_iter()
                .map(|v| redis::from_redis_value(v).unwrap_or_default())
                .collect();
            let now_us = time
                .and_then(|t| redis::from_redis_value::<(u64, u64)>(t).ok())
                .map_or(0, |(s, us)| s * 1_000_000 + us);
            Ok(Probed {
                ttls,
                values,
                buckets,
                now_us,
            })
        })
        .await
}

/// The over-admission shown by one GCRA bucket, per window: a `tat` more than `tau` ahead of
/// `now_us` (the script never writes one), reported as the units in use, `⌈(tat − now) / T⌉`,
/// over the burst.
fn over_burst(
    gk: &GcraKey,
    fields: &HashMap<String, String>,
    policies: &[Policy],
    now_us: u64,
) -> Vec<OverAdmitted> {
    let Some(policy) = policies
        .iter()
        .find(|p| p.name == gk.policy && p.algorithm == Algorithm::Gcra)
    else {
        return Vec::new();
    };
    policy
        .windows
        .iter()
        .filter_map(|w| {
            let tat: u64 = fields.get(&keys::gcra_field(w.window_ms))?.parse().ok()?;
            let p = w.gcra();
            let ahead = tat.checked_sub(now_us)?;
            (now_us > 0 && ahead > p.tau_us).then(|| OverAdmitted {
                key: redact::user_key(&gk.user_key),
                policy: gk.policy.clone(),
                window_ms: w.window_ms,
                count: ahead.div_ceil(p.interval_us),
                limit: p.burst,
            })
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_is_over_only_when_its_tat_runs_past_tau() {
        let policy = Policy::new(
            "api",
            ratelimiter_schema::PolicySpec {
                pattern: Some("api:*".into()),
                algorithm: Algorithm::Gcra,
                windows: vec![ratelimiter_schema::Window::new(10, 1000).with_burst(5)],
            },
        )
        .unwrap();
        let gk = GcraKey {
            user_key: "user:1".into(),
            policy: "api".into(),
        };
        let now = 1_700_000_000_000_000;
        let fields = |ahead: u64| HashMap::from([("1000".to_owned(), (now + ahead).to_string())]);
        let policies = std::slice::from_ref(&policy);
        // T = 100 ms, tau = 500 ms: a full bucket is not over, one µs more is.
        assert!(over_burst(&gk, &fields(500_000), policies, now).is_empty());
        let over = over_burst(&gk, &fields(700_000), policies, now);
        assert_eq!(
            over,
            vec![OverAdmitted {
                key: "user:1".into(),
                policy: "api".into(),
                window_ms: 1000,
                count: 7,
                limit: 5,
            }]
        );
        assert!(
            over_burst(&gk, &fields(700_000), &[], now).is_empty(),
            "unknown policy"
        );
        assert!(
            over_burst(&gk, &fields(700_000), policies, 0).is_empty(),
            "no time read"
        );
    }
}
