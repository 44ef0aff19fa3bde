//! Keeping the node's policies equal to Redis's, and Redis's policies alive.

use std::sync::atomic::Ordering::Relaxed;

use ratelimiter_schema::PolicySet;
use tracing::{Instrument, Span};

use crate::error::StoreError;
use crate::node::{LoadedPolicies, Node};
use crate::store::StoredPolicies;

/// What one synchronisation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncOutcome {
    /// The loaded version is Redis's: nothing to do.
    Unchanged,
    /// The policies were reloaded from Redis.
    Reloaded,
    /// Redis had no policies: this node seeded them (then loaded them).
    Seeded,
}

impl Node {
    /// Compares the loaded policy version with Redis's (one `HGET`), reloads on change, and
    /// seeds Redis when it has no policies (first start, or Redis restarted empty).
    ///
    /// # Errors
    /// Redis failures or timeouts.
    pub async fn sync_policies(&self) -> Result<SyncOutcome, StoreError> {
        let loaded = self.policies();
        match self.store.policy_version().await? {
            Some(v) if v == loaded.version && loaded.from_redis => Ok(SyncOutcome::Unchanged),
            Some(_) => self.reload_policies().await,
            None => self.seed_policies().await,
        }
    }

    /// Loads every policy from Redis (seeding first if there are none).
    ///
    /// # Errors
    /// Redis failures or timeouts.
    pub async fn reload_policies(&self) -> Result<SyncOutcome, StoreError> {
        self.reload().instrument(self.reload_span("reload")).await
    }

    /// The span of one reload (or seeding) of the policies, `trigger` saying which.
    fn reload_span(&self, trigger: &'static str) -> Span {
        tracing::info_span!("policy_reload", node = %self.config.node_id, trigger)
    }

    async fn reload(&self) -> Result<SyncOutcome, StoreError> {
        match self.store.load_policies().await? {
            Some(stored) => Ok(self.apply_stored(stored)),
            None => self.seed().await,
        }
    }

    fn apply_stored(&self, stored: StoredPolicies) -> SyncOutcome {
        for error in &stored.invalid {
            tracing::warn!(%error, "skipping an invalid policy stored in redis");
        }
        let count = stored.policies.len();
        let set = match PolicySet::new(stored.policies) {
            Ok(set) => set,
            Err(error) => {
                tracing::warn!(%error, "policies in redis unusable; keeping the loaded ones");
                return SyncOutcome::Unchanged;
            }
        };
        let loaded = LoadedPolicies::new(set, stored.version, true);
        tracing::info!(version = loaded.version, digest = %loaded.digest, policies = count, "policies loaded");
        self.set_policies(loaded);
        self.metrics.policy_reloads.fetch_add(1, Relaxed);
        SyncOutcome::Reloaded
    }

    /// Seeds Redis with the policies this node serves (the set last loaded from Redis, so changes
    /// made through the API survive a Redis restart; else the seed file or built-in default), at
    /// a version above any this node has seen and at least Redis time in ms, then loads them back.
    ///
    /// # Errors
    /// Redis failures or timeouts.
    pub async fn seed_policies(&self) -> Result<SyncOutcome, StoreError> {
        self.seed().instrument(self.reload_span("seed")).await
    }

    async fn seed(&self) -> Result<SyncOutcome, StoreError> {
        let loaded = self.policies();
        let set = if loaded.from_redis && !loaded.set.is_empty() {
            &loaded.set
        } else {
            &self.config.seed_policies
        };
        let seeded = self.store.seed_policies(set, loaded.version + 1).await?;
        if seeded {
            tracing::info!(policies = set.len(), "redis had no policies: seeded them");
        }
        // Load without seeding again, so a hash that vanishes meanwhile cannot make a loop.
        match self.store.load_policies().await? {
            Some(stored) => {
                self.apply_stored(stored);
                Ok(if seeded {
                    SyncOutcome::Seeded
                } else {
                    SyncOutcome::Reloaded
                })
            }
            None => Ok(SyncOutcome::Unchanged),
        }
    }
}
