//! The typed remediation actions of the rate limiter, and how they run.
//!
//! Everything acts on Redis directly, through the key schema and the policy scripts of
//! `ratelimiter-schema` (the same Lua the nodes run, so the version bump and the TTLs stay in one
//! place): the actions work even when no node can answer. Every action is idempotent and reports
//! what it changed.

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::Duration;

use operator_core::{Action, ActionReport, ActionSpec};
use ratelimiter_schema::keys::{self, LONG_TTL_MS, POLICY_FIELD_PREFIX};
use ratelimiter_schema::{Policy, PolicySpec, Window, scripts};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::{Error, Result};
use crate::observe::RateLimiterSubject;

/// What the operator may do to the rate limiter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "action",
    content = "args",
    rename_all = "snake_case",
    deny_unknown_fields
)]
pub enum RateLimitAction {
    /// Deletes every counter of one user key (all policies and windows): its limits start afresh.
    ResetCounter {
        /// The user key, e.g. `user:42`.
        key: String,
    },
    /// Sets the limit of one window of an existing policy (adding the window if the policy has no
    /// window of that length).
    UpdatePolicy {
        /// Policy name.
        name: String,
        /// New limit.
        limit: u64,
        /// Window length in ms.
        window_ms: u64,
    },
    /// Gives every key under the prefix that has no TTL the TTL it should have (counters: twice
    /// their window; policies and node registry: 7 days; others: the configured repair TTL).
    RepairStuckKeys {},
    /// When Redis has no policies, writes back the last valid policy set the monitor saw there.
    ReseedPolicies {},
}

impl Action for RateLimitAction {
    fn catalog() -> Vec<ActionSpec> {
        vec![
            ActionSpec::new("reset_counter", "Delete every counter of one user key, so its limits start afresh.")
                .param("key", "string", "the user key, e.g. user:42"),
            ActionSpec::new(
                "update_policy",
                "Set the limit of one window of an existing policy (the policy version is bumped, so \
                 every node reloads it within a second).",
            )
            .param("name", "string", "policy name")
            .param("limit", "integer", "new limit, at least 1")
            .param("window_ms", "integer", "length of the window to change, in ms"),
            ActionSpec::new(
                "repair_stuck_keys",
                "Give every key under the prefix that has no TTL the TTL it should have (counters: twice their \
                 window; policies and node registry: 7 days). Uses PEXPIRE NX, so keys that meanwhile got a \
                 TTL are left alone.",
            ),
            ActionSpec::new(
                "reseed_policies",
                "If Redis holds no policies, write back the last valid policy set the monitor observed there \
                 (newer than the nodes' seed files: changes made through the API are kept).",
            ),
        ]
    }

    fn name(&self) -> &'static str {
        match self {
            RateLimitAction::ResetCounter { .. } => "reset_counter",
            RateLimitAction::UpdatePolicy { .. } => "update_policy",
            RateLimitAction::RepairStuckKeys {} => "repair_stuck_keys",
            RateLimitAction::ReseedPolicies {} => "reseed_policies",
        }
    }
}

/// Runs `action` on `subject`.
pub(crate) async fn execute(
    subject: &RateLimiterSubject,
    action: &RateLimitAction,
) -> Result<ActionReport> {
    let report = match action {
        RateLimitAction::ResetCounter { key } => reset_counter(subject, key).await?,
        RateLimitAction::UpdatePolicy {
            name,
            limit,
            window_ms,
        } => update_policy(subject, name, *limit, *window_ms).await?,
        RateLimitAction::RepairStuckKeys {} => repair_stuck_keys(subject).await?,
        RateLimitAction::ReseedPolicies {} => reseed_policies(subject).await?,
    };
    tracing::info!(
        subject = "ratelimit",
        action = action.name(),
        changed = report.changed,
        "{}",
        report.summary
    );
    Ok(report)
}

/// Every key matching `pattern`, by a complete SCAN.
async fn scan_all(subject: &RateLimiterSubject, pattern: String) -> Result<Vec<String>> {
    let bound = subject.config.redis_timeout * 10;
    let mut cursor = 0u64;
    let mut found = Vec::new();
    loop {
        let pat = pattern.clone();
        let (next, batch): (u64, Vec<String>) = subject
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

async fn reset_counter(subject: &RateLimiterSubject, key: &str) -> Result<ActionReport> {
    keys::validate_user_key(key).map_err(|e| Error::Action(format!("reset_counter: key: {e}")))?;
    let counters = scan_all(
        subject,
        keys::counter_scan_pattern_exact(&subject.config.key_prefix, key),
    )
    .await?;
    let deleted: u64 = if counters.is_empty() {
        0
    } else {
        let names = counters.clone();
        subject
            .redis
            .run(subject.config.redis_timeout * 2, move |mut c| async move {
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

async fn repair_stuck_keys(subject: &RateLimiterSubject) -> Result<ActionReport> {
    let prefix = subject.config.key_prefix.clone();
    let all = scan_all(subject, keys::all_keys_pattern(&prefix)).await?;
    let names = all.clone();
    let ttls: Vec<i64> = subject
        .redis
        .run(subject.config.redis_timeout * 10, move |mut c| async move {
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
            let ttl = repair_ttl(&prefix, &k, subject.config.repair_ttl);
            (k, ttl)
        })
        .collect();
    let plan = stuck.clone();
    let applied: Vec<i64> = if plan.is_empty() {
        Vec::new()
    } else {
        subject
            .redis
            .run(subject.config.redis_timeout * 10, move |mut c| async move {
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

/// The TTL a key of this kind should have, in ms.
fn repair_ttl(prefix: &str, key: &str, fallback: Duration) -> u64 {
    if let Some(ck) = keys::parse_counter_key(prefix, key) {
        ck.window_ms.saturating_mul(2)
    } else if key == keys::policies_key(prefix) || key == keys::nodes_key(prefix) {
        LONG_TTL_MS
    } else {
        u64::try_from(fallback.as_millis()).unwrap_or(u64::MAX)
    }
}

static PUT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(scripts::POLICY_PUT));
static SEED: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(scripts::POLICY_SEED));

/// The policies hash as it is in Redis: `(version, policies)`, `None` when absent.
async fn read_policies(subject: &RateLimiterSubject) -> Result<Option<(u64, Vec<Policy>)>> {
    let key = keys::policies_key(&subject.config.key_prefix);
    let hash: HashMap<String, String> = subject
        .redis
        .run(subject.config.redis_timeout * 2, move |mut c| async move {
            redis::cmd("HGETALL").arg(&key).query_async(&mut c).await
        })
        .await?;
    if hash.is_empty() {
        return Ok(None);
    }
    let version = hash
        .get(keys::POLICY_VERSION_FIELD)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let policies = hash
        .iter()
        .filter_map(|(field, json)| {
            Policy::from_json(field.strip_prefix(POLICY_FIELD_PREFIX)?, json).ok()
        })
        .collect();
    Ok(Some((version, policies)))
}

async fn update_policy(
    subject: &RateLimiterSubject,
    name: &str,
    limit: u64,
    window_ms: u64,
) -> Result<ActionReport> {
    if limit == 0 || window_ms == 0 {
        return Err(Error::Action(
            "update_policy: limit and window_ms must be at least 1".into(),
        ));
    }
    let Some((_, policies)) = read_policies(subject).await? else {
        return Err(Error::Action(
            "update_policy: Redis holds no policies; run reseed_policies first".into(),
        ));
    };
    let Some(policy) = policies.iter().find(|p| p.name == name) else {
        let mut known: Vec<&str> = policies.iter().map(|p| p.name.as_str()).collect();
        known.sort_unstable();
        return Err(Error::Action(format!(
            "update_policy: no policy {name:?} (known: {})",
            known.join(", ")
        )));
    };
    let mut windows = policy.windows.clone();
    match windows.iter_mut().find(|w| w.window_ms == window_ms) {
        Some(w) if w.limit == limit => {
            return Ok(ActionReport {
                action: "update_policy".into(),
                changed: false,
                summary: format!("policy {name:?} already allows {limit} per {window_ms} ms"),
                details: json!({ "policy": policy }),
            });
        }
        Some(w) => w.limit = limit,
        None => windows.push(Window { limit, window_ms }),
    }
    let spec = PolicySpec {
        pattern: policy.spec().pattern,
        windows,
    };
    let updated =
        Policy::new(name, spec).map_err(|e| Error::Action(format!("update_policy: {e}")))?;
    let (key, field, json) = (
        keys::policies_key(&subject.config.key_prefix),
        keys::policy_field(name),
        updated.to_json(),
    );
    let version: i64 = subject
        .redis
        .run(subject.config.redis_timeout * 2, move |mut c| async move {
            PUT.key(&key)
                .arg(&field)
                .arg(&json)
                .arg(LONG_TTL_MS)
                .invoke_async(&mut c)
                .await
        })
        .await?;
    if version < 0 {
        return Err(Error::Action(
            "update_policy: the policies vanished from Redis meanwhile".into(),
        ));
    }
    Ok(ActionReport {
        action: "update_policy".into(),
        changed: true,
        summary: format!(
            "policy {name:?} now allows {limit} per {window_ms} ms (policy version {version})"
        ),
        details: json!({ "before": policy, "after": updated, "version": version }),
    })
}

async fn reseed_policies(subject: &RateLimiterSubject) -> Result<ActionReport> {
    if let Some((version, policies)) = read_policies(subject).await? {
        return Ok(ActionReport {
            action: "reseed_policies".into(),
            changed: false,
            summary: format!(
                "Redis already holds {} policies (version {version}); nothing to reseed",
                policies.len()
            ),
            details: json!({ "version": version }),
        });
    }
    let last = subject.last_policies.lock().ok().and_then(|l| l.clone());
    let Some((version, policies)) = last else {
        return Err(Error::Action(
            "reseed_policies: the monitor has not seen a valid policy set in Redis since it started; \
             restart a node to seed its --policies file"
                .into(),
        ));
    };
    let key = keys::policies_key(&subject.config.key_prefix);
    let pairs: Vec<(String, String)> = policies
        .iter()
        .map(|p| (keys::policy_field(&p.name), p.to_json()))
        .collect();
    let seeded: i64 = subject
        .redis
        .run(subject.config.redis_timeout * 2, move |mut c| async move {
            let mut inv = SEED.key(&key);
            inv.arg(LONG_TTL_MS).arg(version.saturating_add(1));
            for (field, json) in &pairs {
                inv.arg(field).arg(json);
            }
            inv.invoke_async(&mut c).await
        })
        .await?;
    let names: Vec<&str> = policies.iter().map(|p| p.name.as_str()).collect();
    Ok(ActionReport {
        action: "reseed_policies".into(),
        changed: seeded == 1,
        summary: if seeded == 1 {
            format!(
                "wrote back {} polic{} last seen at version {version}: {}",
                policies.len(),
                if policies.len() == 1 { "y" } else { "ies" },
                names.join(", ")
            )
        } else {
            "a node re-seeded the policies first; nothing written".into()
        },
        details: json!({ "restored_from_version": version, "policies": policies }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_parse_from_their_wire_form() {
        let a: RateLimitAction =
            serde_json::from_value(json!({"action": "reset_counter", "args": {"key": "user:1"}}))
                .unwrap();
        assert_eq!(
            a,
            RateLimitAction::ResetCounter {
                key: "user:1".into()
            }
        );
        let a: RateLimitAction =
            serde_json::from_value(json!({"action": "repair_stuck_keys", "args": {}})).unwrap();
        assert_eq!(a.name(), "repair_stuck_keys");
        let bad =
            serde_json::from_value::<RateLimitAction>(json!({"action": "flushall", "args": {}}));
        assert!(bad.is_err(), "only declared actions exist");
        let catalog: Vec<String> = RateLimitAction::catalog()
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(
            catalog,
            [
                "reset_counter",
                "update_policy",
                "repair_stuck_keys",
                "reseed_policies"
            ]
        );
    }

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
