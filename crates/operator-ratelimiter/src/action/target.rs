//! [`Target`]: what an action acts on, and nothing more: the Redis handle, the key prefix, the
//! repair TTL, and the last valid policy set the monitor saw.

use std::sync::Arc;
use std::time::Duration;

use ratelimiter_schema::Policy;

use crate::redis_handle::RedisHandle;

/// A policy set with the version it was stored at.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct VersionedPolicies {
    /// The `version` field of the policies hash (0 when it had none).
    pub(crate) version: u64,
    /// The valid policies.
    pub(crate) policies: Vec<Policy>,
}

/// The narrow view of the subject that the actions need.
pub(crate) struct Target<'a> {
    /// Redis, where every action acts (the nodes are never asked).
    pub(crate) redis: &'a RedisHandle,
    /// The key prefix of the nodes.
    pub(crate) key_prefix: &'a str,
    /// TTL given by `repair_stuck_keys` to keys it cannot classify.
    pub(crate) repair_ttl: Duration,
    /// The last valid policy set the monitor saw in Redis, restored by `reseed_policies`.
    pub(crate) last_policies: Option<VersionedPolicies>,
    /// On a Redis Cluster, each primary serving slots (`host:port` and a handle on it alone):
    /// what walks the keyspace (`repair_stuck_keys`) runs on each. Empty on one Redis, where
    /// `redis` is the only server.
    pub(crate) shards: Vec<(String, Arc<RedisHandle>)>,
}

impl Target<'_> {
    /// The servers to walk the keyspace of, each with its address (empty on one Redis).
    pub(crate) fn keyspaces(&self) -> Vec<(&str, &RedisHandle)> {
        if self.shards.is_empty() {
            return vec![("", self.redis)];
        }
        self.shards
            .iter()
            .map(|(a, h)| (a.as_str(), &**h))
            .collect()
    }
}
