//! `repair_stuck_keys`: gives every key under the prefix that has no TTL the TTL of its kind,
//! walking the prefix in bounded batches, so that neither Redis nor the monitor ever holds more
//! than one batch of keys at a time, whatever the keyspace size.

use std::time::Duration;

use operator_core::ActionReport;
use ratelimiter_schema::keys::{self, LONG_TTL_MS};
use ratelimiter_schema::policy::MAX_WINDOW_MS;
use serde_json::json;

use super::target::Target;
use crate::error::Result;
use crate::observation::KeyKind;
use crate::redact;
use crate::redis_handle::RedisHandle;

/// Keys per `SCAN` call, and so at most per pipeline of `PTTL` and of `PEXPIRE`.
const BATCH: usize = 500;
/// Repaired keys the report names (it counts them all).
const LISTED: usize = 20;

/// What the repair did, batch after batch.
#[derive(Debug, Default)]
struct Tally {
    scanned: u64,
    stuck: u64,
    repaired: u64,
    batches: u64,
    largest_batch: usize,
    listed: Vec<serde_json::Value>,
    /// On a cluster: keys repaired per primary.
    per_shard: Vec<serde_json::Value>,
}

/// `repair_stuck_keys`: gives every key under the prefix without a TTL the TTL of its kind, on
/// one Redis or on each primary of a cluster in turn.
pub(super) async fn repair_stuck_keys(target: &Target<'_>) -> Result<ActionReport> {
    let prefix = target.key_prefix;
    let mut tally = Tally::default();
    for (addr, redis) in target.keyspaces() {
        let before = tally.repaired;
        repair_keyspace(target, redis, &mut tally).await?;
        if !addr.is_empty() {
            tally
                .per_shard
                .push(json!({ "primary": addr, "repaired": tally.repaired - before }));
        }
    }
    let n = tally.repaired;
    let mut details = json!({
        "scanned": tally.scanned,
        "stuck": tally.stuck,
        "repaired_total": n,
        "repaired": tally.listed,
        "batches": tally.batches,
        "batch_size": BATCH,
        "largest_batch": tally.largest_batch,
    });
    if !tally.per_shard.is_empty() {
        details["shards"] = json!(tally.per_shard);
    }
    Ok(ActionReport {
        action: "repair_stuck_keys".into(),
        changed: n > 0,
        summary: format!(
            "gave a TTL to {n} key{} that had none ({} keys under {prefix:?} checked in {} \
             batches of at most {BATCH}{})",
            if n == 1 { "" } else { "s" },
            tally.scanned,
            tally.batches,
            if tally.per_shard.is_empty() {
                String::new()
            } else {
                format!(", on {} primaries", tally.per_shard.len())
            }
        ),
        details,
    })
}

/// The repair of one server's keyspace, batch after batch.
async fn repair_keyspace(
    target: &Target<'_>,
    redis: &RedisHandle,
    tally: &mut Tally,
) -> Result<()> {
    let pattern = keys::all_keys_pattern(target.key_prefix);
    let bound = redis.timeout() * 10;
    let mut cursor = 0u64;
    loop {
        let pat = pattern.clone();
        let (next, batch): (u64, Vec<String>) = redis
            .run(bound, move |mut c| async move {
                redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(pat)
                    .arg("COUNT")
                    .arg(BATCH)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        // SCAN's COUNT is a hint: a batch may come back larger; split it to keep the bound.
        for chunk in batch.chunks(BATCH) {
            repair_batch(target, redis, chunk.to_vec(), tally).await?;
        }
        cursor = next;
        if cursor == 0 {
            return Ok(());
        }
    }
}

/// Checks the TTLs of `names` in one pipeline, then gives the ones without a TTL theirs in one
/// more.
async fn repair_batch(
    target: &Target<'_>,
    redis: &RedisHandle,
    names: Vec<String>,
    tally: &mut Tally,
) -> Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    tally.batches += 1;
    tally.scanned += names.len() as u64;
    tally.largest_batch = tally.largest_batch.max(names.len());
    let bound = redis.timeout() * 10;
    let probe = names.clone();
    let ttls: Vec<i64> = redis
        .run(bound, move |mut c| async move {
            let mut pipe = redis::pipe();
            for k in &probe {
                pipe.cmd("PTTL").arg(k);
            }
            pipe.query_async(&mut c).await
        })
        .await?;
    let plan: Vec<(String, u64)> = names
        .into_iter()
        .zip(ttls)
        .filter(|(_, ttl)| *ttl == -1)
        .map(|(k, _)| {
            let ttl = repair_ttl(target.key_prefix, &k, target.repair_ttl);
            (k, ttl)
        })
        .collect();
    if plan.is_empty() {
        return Ok(());
    }
    tally.stuck += plan.len() as u64;
    let apply = plan.clone();
    let applied: Vec<i64> = redis
        .run(bound, move |mut c| async move {
            let mut pipe = redis::pipe();
            for (k, ttl) in &apply {
                // NX: only keys that still have no TTL; a node may have written one meanwhile.
                pipe.cmd("PEXPIRE").arg(k).arg(*ttl).arg("NX");
            }
            pipe.query_async(&mut c).await
        })
        .await?;
    for ((k, ttl), done) in plan.iter().zip(applied) {
        if done == 1 {
            tally.repaired += 1;
            if tally.listed.len() < LISTED {
                let shown = redact::key_name(target.key_prefix, k);
                tally.listed.push(json!({ "key": shown, "ttl_ms": ttl }));
            }
        }
    }
    Ok(())
}

/// The TTL key `key` should have by its kind, in ms: twice its window for a counter, the long
/// TTL for the policies and the registry, `fallback` for other keys. A GCRA bucket gets the
/// longest refill any bucket may have ([`MAX_WINDOW_MS`]): its own depends on `tat`s and
/// policies the repair does not read, and expiring it early would forget admitted requests.
fn repair_ttl(prefix: &str, key: &str, fallback: Duration) -> u64 {
    if let Some(ck) = keys::parse_counter_key(prefix, key) {
        return ck.window_ms.saturating_mul(2);
    }
    if keys::parse_gcra_key(prefix, key).is_some() {
        return MAX_WINDOW_MS;
    }
    match KeyKind::of(prefix, key) {
        KeyKind::Policies | KeyKind::Nodes => LONG_TTL_MS,
        KeyKind::Counter | KeyKind::Other => {
            u64::try_from(fallback.as_millis()).unwrap_or(u64::MAX)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repair_ttls_follow_the_key_schema() {
        let p = "ratelimit:";
        assert_eq!(
            repair_ttl(
                p,
                &keys::counter_key(p, "u", "default", 1_000),
                Duration::ZERO
            ),
            2_000
        );
        assert_eq!(
            repair_ttl(p, &keys::gcra_key(p, "u", "api"), Duration::ZERO),
            MAX_WINDOW_MS
        );
        assert_eq!(
            repair_ttl(p, "ratelimit:{shared}:policies", Duration::ZERO),
            LONG_TTL_MS
        );
        assert_eq!(
            repair_ttl(p, "ratelimit:junk", Duration::from_secs(60)),
            60_000
        );
    }
}
