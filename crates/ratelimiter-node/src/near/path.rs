//! The near cache's I/O: a decision through the cache and Redis, the give-back of leases on
//! shutdown, and the reset epoch polled beside the policies.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use ratelimiter_schema::Policy;

use super::cache::{Lookup, NearCache};
use super::entry::CacheHit;
use super::shard::FlightState;
use super::sizing::units_wanted;
use crate::algorithm::Outcome;
use crate::error::StoreError;
use crate::node::Node;
use crate::store::LeaseReturn;

/// How a decision through the near cache went.
#[derive(Debug)]
pub(crate) enum NearAnswer {
    /// Answered from the cache.
    Hit(CacheHit, Outcome),
    /// Answered by Redis (`Ok(None)`: a key without counter under the memory guard).
    Redis(Result<Option<Outcome>, StoreError>),
}

/// The longest the give-back of every lease may take on shutdown.
const RETURN_BUDGET: Duration = Duration::from_secs(2);

impl Node {
    /// Decides `cost` for `key` under `policy` from the near cache, or with one Redis call
    /// (which may take a lease); concurrent misses of a leased key wait for one call.
    pub(crate) async fn decide_near(
        &self,
        near: &NearCache,
        key: &str,
        policy: &Policy,
        cost: u64,
        guard: bool,
        generation: u64,
    ) -> NearAnswer {
        // No lease before the first heartbeat has counted the nodes Up (sized for one node, a
        // lease could then be several times too large).
        let want = if self.started_redis_ms.load(Relaxed) == 0 {
            cost
        } else {
            units_wanted(&policy.windows, self.up_nodes(), cost)
        };
        loop {
            match near.lookup(key, &policy.windows, cost, want, near.now_us()) {
                Lookup::Hit(kind, outcome) => return NearAnswer::Hit(kind, outcome),
                Lookup::Exact => {
                    return self
                        .near_call(near, key, policy, (cost, cost), guard, generation)
                        .await;
                }
                Lookup::Lead(flight) => {
                    let answer = self
                        .near_call(near, key, policy, (cost, want), guard, generation)
                        .await;
                    if matches!(answer, NearAnswer::Redis(Err(_))) {
                        flight.failed();
                    }
                    return answer;
                }
                Lookup::Wait(mut rx) => {
                    let state = rx
                        .wait_for(|s| *s != FlightState::Running)
                        .await
                        .map_or(FlightState::Done, |s| *s);
                    if state == FlightState::Failed {
                        // Redis failed the leader: no queueing behind it, one call each.
                        return self
                            .near_call(near, key, policy, (cost, cost), guard, generation)
                            .await;
                    }
                }
            }
        }
    }

    /// One Redis call for a request of `cost` asking for `want` units, its answer cached
    /// unless the cache's generation moved past `generation` (read before the policy was).
    async fn near_call(
        &self,
        near: &NearCache,
        key: &str,
        policy: &Policy,
        (cost, want): (u64, u64),
        guard: bool,
        generation: u64,
    ) -> NearAnswer {
        let sent_us = near.now_us();
        match self.store.lease(key, policy, cost, want, guard).await {
            Ok(Some(reply)) => {
                near.record(key, policy, cost, generation, sent_us, &reply);
                NearAnswer::Redis(Ok(Some(reply.outcome)))
            }
            Ok(None) => NearAnswer::Redis(Ok(None)),
            Err(e) => NearAnswer::Redis(Err(e)),
        }
    }

    /// Gives back every unspent lease (graceful shutdown), within a couple of seconds; stops
    /// at the first failure (Redis is then unreachable: the leases end with their windows).
    pub async fn return_leases(&self) {
        let Some(near) = &self.near else { return };
        let leases = near.drain_leases(near.now_us());
        if leases.is_empty() {
            return;
        }
        let all = leases.len();
        let give_back = async {
            let mut returned = 0_usize;
            for (key, lease) in &leases {
                let ret = LeaseReturn {
                    user_key: key,
                    policy: &lease.policy,
                    unspent: lease.left,
                    windows: &lease.windows,
                };
                if let Err(error) = self.store.lease_return(&ret).await {
                    tracing::warn!(%error, returned, left = all - returned, "could not give back leases");
                    break;
                }
                near.stats.returned.fetch_add(1, Relaxed);
                returned += 1;
            }
            returned
        };
        match tokio::time::timeout(RETURN_BUDGET, give_back).await {
            Ok(returned) => tracing::info!(returned, leases = all, "leases given back"),
            Err(_) => tracing::warn!(leases = all, "giving back leases took too long"),
        }
    }

    /// Reads the reset epoch and drops every cached entry when it changed since the last read
    /// (a counter was reset by some node).
    ///
    /// # Errors
    /// Redis failures or timeouts.
    pub(crate) async fn poll_near_resets(&self) -> Result<(), StoreError> {
        let Some(near) = &self.near else {
            return Ok(());
        };
        let epoch = self.store.near_resets().await?;
        let seen = near.reset_epoch.swap(epoch, Relaxed);
        if seen != u64::MAX && seen != epoch {
            near.invalidate_all();
            tracing::info!(epoch, "counters were reset: near cache dropped");
        }
        Ok(())
    }

    /// After this node reset `key`'s counters: drops its entry here and bumps the reset epoch
    /// so that every node's near cache drops its entries within a policy poll.
    pub(crate) async fn near_counters_reset(&self, key: &str) {
        if let Some(near) = &self.near {
            near.remove(key);
        }
        if let Err(error) = self.store.bump_near_resets().await {
            tracing::warn!(%error, "could not bump the near caches' reset epoch");
        }
    }
}
