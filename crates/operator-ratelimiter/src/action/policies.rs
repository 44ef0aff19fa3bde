//! Repairs of the policy set, with the policy scripts of `ratelimiter-schema` (the same Lua the
//! nodes run, so the version bump and the TTL stay in one place).

use std::collections::HashMap;
use std::sync::LazyLock;

use operator_core::ActionReport;
use ratelimiter_schema::keys::{self, LONG_TTL_MS, POLICY_FIELD_PREFIX};
use ratelimiter_schema::{Policy, PolicySpec, Window, scripts};
use serde_json::json;

use super::target::{Target, VersionedPolicies};
use crate::error::{Error, Result};

static PUT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(scripts::POLICY_PUT));
static SEED: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(scripts::POLICY_SEED));

/// The policies hash as it is in Redis, `None` when absent.
pub(super) async fn read_policies(target: &Target<'_>) -> Result<Option<VersionedPolicies>> {
    let key = keys::policies_key(target.key_prefix);
    let hash: HashMap<String, String> = target
        .redis
        .run(target.redis.timeout() * 2, move |mut c| async move {
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
    Ok(Some(VersionedPolicies { version, policies }))
}

/// `update_policy`: sets the limit of one window of policy `name`, bumping the policy version.
pub(super) async fn update_policy(
    target: &Target<'_>,
    name: &str,
    limit: u64,
    window_ms: u64,
) -> Result<ActionReport> {
    if limit == 0 || window_ms == 0 {
        return Err(Error::Action(
            "update_policy: limit and window_ms must be at least 1".into(),
        ));
    }
    let Some(VersionedPolicies { policies, .. }) = read_policies(target).await? else {
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
        None => windows.push(Window::new(limit, window_ms)),
    }
    let spec = PolicySpec {
        algorithm: policy.algorithm,
        pattern: policy.spec().pattern,
        windows,
    };
    let updated =
        Policy::new(name, spec).map_err(|e| Error::Action(format!("update_policy: {e}")))?;
    let (key, field, json) = (
        keys::policies_key(target.key_prefix),
        keys::policy_field(name),
        updated.to_json(),
    );
    let version: i64 = target
        .redis
        .run(target.redis.timeout() * 2, move |mut c| async move {
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

/// `reseed_policies`: writes back the last policy set seen when Redis holds none.
pub(super) async fn reseed_policies(target: &Target<'_>) -> Result<ActionReport> {
    if let Some(VersionedPolicies { version, policies }) = read_policies(target).await? {
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
    let Some(VersionedPolicies { version, policies }) = &target.last_policies else {
        return Err(Error::Action(
            "reseed_policies: the monitor has not seen a valid policy set in Redis since it started; \
             restart a node to seed its --policies file"
                .into(),
        ));
    };
    let version = *version;
    let key = keys::policies_key(target.key_prefix);
    let pairs: Vec<(String, String)> = policies
        .iter()
        .map(|p| (keys::policy_field(&p.name), p.to_json()))
        .collect();
    let seeded: i64 = target
        .redis
        .run(target.redis.timeout() * 2, move |mut c| async move {
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
