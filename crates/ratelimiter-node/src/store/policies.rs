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
        let mut inv = self.policy_seed.prepare_invoke();
        inv.key(keys::policies_key(&self.prefix))
            .arg(LONG_TTL_MS)
            .arg(version);
        for p in set.sorted() {
            inv.arg(keys::policy_field(&p.name)).arg(p.to_json());
        }
        let mut conn = self.conn();
        let seeded: i64 = self.admin(inv.invoke_async(&mut conn)).await?;
        Ok(seeded == 1)
    }

    /// Stores `policy` and bumps the version; `None` when Redis has no policy hash (seed first).
    ///
    /// # Errors
    /// Redis failures or timeouts.
    pub async fn put_policy(&self, policy: &Policy) -> Result<Option<u64>, StoreError> {
        let mut inv = self.policy_put.prepare_invoke();
        inv.key(keys::policies_key(&self.prefix))
            .arg(keys::policy_field(&policy.name))
            .arg(policy.to_json())
            .arg(LONG_TTL_MS);
        let mut conn = self.conn();
        let v: i64 = self.admin(inv.invoke_async(&mut conn)).await?;
        Ok(u64::try_from(v).ok())
    }

    /// Deletes the policy `name` and bumps the version. `None` when Redis has no policy hash,
    /// else whether it existed and the version after.
    ///
    /// # Errors
    /// Redis failures or timeouts.
    pub async fn delete_policy(&self, name: &str) -> Result<Option<(bool, u64)>, StoreError> {
        let mut inv = self.policy_delete.prepare_invoke();
        inv.key(keys::policies_key(&self.prefix))
            .arg(keys::policy_field(name))
            .arg(LONG_TTL_MS);
        let mut conn = self.conn();
        let (removed, version): (i64, u64) = self.admin(inv.invoke_async(&mut conn)).await?;
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
}
