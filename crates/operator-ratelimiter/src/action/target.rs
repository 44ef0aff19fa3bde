//! [`Target`]: what an action acts on, and nothing more: the Redis handle, the key prefix, the
//! repair TTL, and the last valid policy set the monitor saw.

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
}
