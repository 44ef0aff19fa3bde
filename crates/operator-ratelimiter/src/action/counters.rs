//! Repairs of counters and TTLs, in Redis directly through the key schema.

use std::time::Duration;

use operator_core::ActionReport;
use ratelimiter_schema::keys::{self, LONG_TTL_MS};
use serde_json::json;

use super::target::Target;
use crate::error::{Error, Result};
use crate::observation::KeyKind;

/// Every key matching `pattern`, by a complete SCAN.
async fn scan_all(target: &Target<'_>, pattern: String) -> Result<Vec<String>> {
    let bound = target.redis.timeout() * 10;
    let mut cursor = 0u64;
    let mut found = Vec::new();
    loop {
        let pat = pattern.clone();
        let (next, batch): (u64, Vec<String>) = target
            .redis
            .run(bound, move |mut c| async move {
                redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(pat)
                    .arg("COUNT")
                    .arg(1_000)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        found.extend(batch);
        cursor = next;
        if cursor == 0 {
            return Ok(found);
        }
    }
}

/// `reset_counter`: deletes every counter of user key `key`.
pub(super) async fn reset_counter(target: &Target<'_>, key: &str) -> Result<ActionReport> {
    keys::validate_user_key(key).map_err(|e| Error::Action(format!("reset_counter: key: {e}")))?;
    let counters = scan_all(
        target,
        keys::counter_scan_pattern_exact(target.key_prefix, key),
    )
    .await?;
    let deleted: u64 = if counters.is_empty() {
        0
    } else {
        let names = counters.clone();
        target
            .redis
            .run(target.redis.timeout() * 2, move |mut c| async move {
                redis::cmd("DEL").arg(&names).query_async(&mut c).await
            })
            .await?
    };
    Ok(ActionReport {
        action: "reset_counter".into(),
        changed: deleted > 0,
        summary: format!(
            "deleted {deleted} counter{} of key {key:?}",
            if deleted == 1 { "" } else { "s" }
        ),
        details: json!({ "key": key, "deleted": counters }),
    })
}

/// `repair_stuck_keys`: gives every key under the prefix without a TTL the TTL of its kind.
pub(super) async fn repair_stuck_keys(target: &Target<'_>) -> Result<ActionReport> {
    let prefix = target.key_prefix;
    let all = scan_all(target, keys::all_keys_pattern(prefix)).await?;
    let names = all.clone();
    let ttls: Vec<i64> = target
        .redis
        .run(target.redis.timeout() * 10, move |mut c| async move {
            let mut pipe = redis::pipe();
            for k in &names {
                pipe.cmd("PTTL").arg(k);
            }
            pipe.query_async(&mut c).await
        })
        .await?;
    let stuck: Vec<(String, u64)> = all
        .into_iter()
        .zip(ttls)
        .filter(|(_, ttl)| *ttl == -1)
        .map(|(k, _)| {
            let ttl = repair_ttl(prefix, &k, target.repair_ttl);
            (k, ttl)
        })
        .collect();
    let plan = stuck.clone();
    let applied: Vec<i64> = if plan.is_empty() {
        Vec::new()
    } else {
        target
            .redis
            .run(target.redis.timeout() * 10, move |mut c| async move {
                let mut pipe = redis::pipe();
                for (k, ttl) in &plan {
                    // NX: only keys that still have no TTL; a node may have written one meanwhile.
                    pipe.cmd("PEXPIRE").arg(k).arg(*ttl).arg("NX");
                }
                pipe.query_async(&mut c).await
            })
            .await?
    };
    let repaired: Vec<serde_json::Value> = stuck
        .iter()
        .zip(&applied)
        .filter(|(_, done)| **done == 1)
        .map(|((k, ttl), _)| json!({ "key": k, "ttl_ms": ttl }))
        .collect();
    let n = repaired.len();
    Ok(ActionReport {
        action: "repair_stuck_keys".into(),
        changed: n > 0,
        summary: format!(
            "gave a TTL to {n} key{} that had none",
            if n == 1 { "" } else { "s" }
        ),
        details: json!({ "repaired": repaired }),
    })
}

/// The TTL key `key` should have by its kind, in ms: twice its window for a counter, the long
/// TTL for the policies and the registry, `fallback` for other keys.
fn repair_ttl(prefix: &str, key: &str, fallback: Duration) -> u64 {
    if let Some(ck) = keys::parse_counter_key(prefix, key) {
        return ck.window_ms.saturating_mul(2);
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
            repair_ttl(p, "ratelimit:policies", Duration::ZERO),
            LONG_TTL_MS
        );
        assert_eq!(
            repair_ttl(p, "ratelimit:junk", Duration::from_secs(60)),
            60_000
        );
    }
}
