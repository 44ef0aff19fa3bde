//! Policies in Redis: one hash holding every policy and the version (see
//! [`ratelimiter_schema::keys`]). Every change and its version bump happen in one script call.

use std::collections::HashMap;

use ratelimiter_schema::keys::{self, LONG_TTL_MS, POLICY_FIELD_PREFIX, POLICY_VERSION_FIELD};
use ratelimiter_schema::{Policy, PolicyError, PolicySet};

use super::handle::Store;
use crate::error::StoreError;

/// The policies as stored in Redis.
#[derive(Debug, Clone)]
pub struct StoredPolicies {
    /// The version field.
    pub version: u64,
    /// Every policy that parsed and validated.
    pub policies: Vec<Policy>,
    /// Stored policies that did not (they are skipped, and reported).
    pub invalid: Vec<PolicyError>,
}

impl Store {
    /// Reads every policy and the version; `None` when the hash does not exist.
    ///
    /// # Errors
    /// Redis failures or timeouts.
    pub async fn load_policies(&self) -> Result<Option<StoredPolicies>, StoreError> {
        let mut conn = self.conn();
        let key = keys::policies_key(&self.prefix);
        let all: HashMap<String, String> = self
            .admin(redis::cmd("HGETALL").arg(&key).query_async(&mut conn))
            .await?;
        if all.is_empty() {
            return Ok(None);
        }
        let version = all
            .get(POLICY_VERSION_FIELD)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut policies = Vec::new();
        let mut invalid = Vec::new();
        for (field, json) in &all {
            if let Some(name) = field.strip_prefix(POLICY_FIELD_PREFIX) {
                match Policy::from_json(name, json) {
                    Ok(p) => policies.push(p),
                    Err(e) => invalid.push(e),
                }
            }
        }
        Ok(Some(StoredPolicies {
            version,
            policies,
            invalid,
        }))
    }

    /// Reads the version alone (the cheap poll); `None` when the hash does not exist.
    ///
    /// # Errors
    /// Redis failures or timeouts.
    pub async fn policy_version(&self) -> Result<Option<u64>, StoreError> {
        let mut conn = self.conn();
        let key = keys::policies_key(&self.prefix);
        let v: Option<u64> = self
            .bounded(
                self.timeout,
                redis::cmd("HGET")
                    .arg(&key)
                    .arg(POLICY_VERSION_FIELD)
                    .query_async(&mut conn),
            )
            .await?;
        Ok(v)
    }

    /// Writes `set` at `version` if Redis has no policies; `false` when another node got there
    /// first.
    ///
    /// # Errors
    /// Redis failures or timeouts.
    pub async fn seed_policies(&self, set: &PolicySet, version: u64) -> Result<bool, StoreError> {
        if self.migrate_legacy_keys().await {
            return Ok(false);
        }
        let mut call = self.policy_seed.call();
        call.key(keys::policies_key(&self.prefix))
            .arg(LONG_TTL_MS)
            .arg(version);
        for p in set.sorted() {
            call.arg(keys::policy_field(&p.name)).arg(p.to_json());
        }
        let mut conn = self.conn();
        let seeded: i64 = self.admin(call.invoke(&mut conn, &self.metrics)).await?;
        Ok(seeded == 1)
    }

    /// Stores `policy` and bumps the version; `None` when Redis has no policy hash (seed first).
    ///
    /// # Errors
    /// Redis failures or timeouts.
    pub async fn put_policy(&self, policy: &Policy) -> Result<Option<u64>, StoreError> {
        let mut call = self.policy_put.call();
        call.key(keys::policies_key(&self.prefix))
            .arg(keys::policy_field(&policy.name))
            .arg(policy.to_json())
            .arg(LONG_TTL_MS);
        let mut conn = self.conn();
        let v: i64 = self.admin(call.invoke(&mut conn, &self.metrics)).await?;
        Ok(u64::try_from(v).ok())
    }

    /// Deletes the policy `name` and bumps the version. `None` when Redis has no policy hash,
    /// else whether it existed and the version after.
    ///
    /// # Errors
    /// Redis failures or timeouts.
    pub async fn delete_policy(&self, name: &str) -> Result<Option<(bool, u64)>, StoreError> {
        let mut call = self.policy_delete.call();
        call.key(keys::policies_key(&self.prefix))
            .arg(keys::policy_field(name))
            .arg(LONG_TTL_MS);
        let mut conn = self.conn();
        let (removed, version): (i64, u64) =
            self.admin(call.invoke(&mut conn, &self.metrics)).await?;
        Ok((removed >= 0).then_some((removed == 1, version)))
    }

    /// Pushes the TTL of the policies hash back to [`LONG_TTL_MS`].
    ///
    /// # Errors
    /// Redis failures or timeouts.
    pub async fn refresh_policies_ttl(&self) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let key = keys::policies_key(&self.prefix);
        let _: i64 = self
            .admin(
                redis::cmd("PEXPIRE")
                    .arg(&key)
                    .arg(LONG_TTL_MS)
                    .query_async(&mut conn),
            )
            .await?;
        Ok(())
    }

    /// Moves the shared keys of the layout before the `{shared}` hash tag (`P policies`,
    /// `P nodes`) to their names now, when the new ones do not exist (`RENAMENX` keeps the
    /// TTL); whether the policies were moved. Never in cluster mode (which never had the old
    /// layout, and where the two names are in different slots).
    async fn migrate_legacy_keys(&self) -> bool {
        if self.mode() == ratelimiter_schema::RedisMode::Cluster {
            return false;
        }
        let mut moved = false;
        for (old, new) in [
            (
                keys::legacy_policies_key(&self.prefix),
                keys::policies_key(&self.prefix),
            ),
            (
                keys::legacy_nodes_key(&self.prefix),
                keys::nodes_key(&self.prefix),
            ),
        ] {
            let mut conn = self.conn();
            // "no such key" when there is nothing to migrate: the usual case.
            let renamed: Result<i64, _> = self
                .admin(
                    redis::cmd("RENAMENX")
                        .arg(&old)
                        .arg(&new)
                        .query_async(&mut conn),
                )
                .await;
            if matches!(renamed, Ok(1)) {
                tracing::info!(from = %old, to = %new, "migrated a key to the {{shared}} hash tag");
                moved |= new == keys::policies_key(&self.prefix);
            }
        }
        moved
    }
}
