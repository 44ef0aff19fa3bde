//! Writing a policy set straight into Redis, for `reseed_policies` when no node answers (all of
//! them down or frozen: exactly when a node that restarts would seed its own file).
//!
//! The script (`seed.lua`) follows the nodes' own seeding rules from the key schema: only when
//! the hash is missing, every policy as `policy:<name>` → spec JSON, a `version` at least Redis
//! time in ms (so versions only increase), the long TTL. Nodes pick the set up at their next
//! poll, as after any seed.

use ratelimiter_schema::Policy;
use ratelimiter_schema::keys::{self, LONG_TTL_MS};

use crate::error::Result;
use crate::observe::RateLimiterSubject;

/// Writes `policies` if Redis has no policy hash; returns the version written, or `None` when
/// the hash exists.
pub(crate) async fn seed_directly(
    subject: &RateLimiterSubject,
    lowest_version: u64,
    policies: &[Policy],
) -> Result<Option<u64>> {
    let script = redis::Script::new(include_str!("seed.lua"));
    let key = keys::policies_key(&subject.config.key_prefix);
    let pairs: Vec<(String, String)> = policies
        .iter()
        .map(|p| (keys::policy_field(&p.name), p.to_json()))
        .collect();
    let version: u64 = subject
        .redis
        .run(subject.config.redis_timeout * 2, move |mut c| async move {
            let mut inv = script.prepare_invoke();
            inv.key(&key).arg(LONG_TTL_MS).arg(lowest_version);
            for (field, json) in &pairs {
                inv.arg(field).arg(json);
            }
            inv.invoke_async(&mut c).await
        })
        .await?;
    Ok((version > 0).then_some(version))
}
