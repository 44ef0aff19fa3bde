//! The near cache's Redis calls: a decision that may lease (`lua/lease.lua`), the give-back of
//! a lease's unspent units (`lua/lease_return.lua`), and the reset epoch every node's near cache
//! polls (`lua/near_reset.lua`, a `GET`). Decisions go through the shard's breaker as the check
//! script does; the others are management calls.

use ratelimiter_schema::{Policy, keys};

use super::check::window_args;
use super::handle::{CallKind, Store};
use crate::algorithm::{Counter, Outcome};
use crate::error::StoreError;

/// What the lease script answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseReply {
    /// The decision of the request itself.
    pub outcome: Outcome,
    /// Redis time of the decision, Unix ms.
    pub redis_now_ms: u64,
    /// Units counted in every window (the cost plus the lease; 0 when denied).
    pub granted: u64,
    /// Every window's counter after the call, seen from the current window.
    pub counters: Vec<Counter>,
}

/// One lease to give back: its key, policy, what is unspent and, per window, its length and
/// the window index the lease was counted in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseReturn<'a> {
    /// The user key.
    pub user_key: &'a str,
    /// The policy the lease was taken under.
    pub policy: &'a str,
    /// Units unspent.
    pub unspent: u64,
    /// Per window: (window_ms, window index).
    pub windows: &'a [(u64, u64)],
}

impl Store {
    /// Decides `cost` for `user_key` under every window of `policy` and, when admitted, counts
    /// up to `want` units at once (at least `cost`): one Redis command. With `guard` (the memory
    /// guard is on) `None` for a key without a counter, as [`Store::check_guarded`].
    ///
    /// # Errors
    /// As [`Store::check`].
    pub async fn lease(
        &self,
        user_key: &str,
        policy: &Policy,
        cost: u64,
        want: u64,
        guard: bool,
    ) -> Result<Option<LeaseReply>, StoreError> {
        let mut call = self.lease.call();
        self.counter_keys(&mut call, user_key, policy);
        call.arg(cost).arg(want.max(cost));
        window_args(&mut call, policy);
        if guard {
            call.arg(1);
        }
        let reply: Vec<i64> = self.decision(&call).await?;
        if guard && reply == [-1] {
            return Ok(None);
        }
        parse_lease_reply(&reply, policy.windows.len()).map(Some)
    }

    /// Gives back `lease.unspent` units in every window still in the fixed window the lease was
    /// counted in (never below 0). Returns the number of windows given back to.
    ///
    /// # Errors
    /// Redis failures or timeouts.
    pub async fn lease_return(&self, lease: &LeaseReturn<'_>) -> Result<u64, StoreError> {
        let mut call = self.lease_return.call();
        for &(window_ms, _) in lease.windows {
            call.key(keys::counter_key(
                &self.prefix,
                lease.user_key,
                lease.policy,
                window_ms,
            ));
        }
        call.arg(lease.unspent);
        for &(_, index) in lease.windows {
            call.arg(index);
        }
        let route = self.shards.route(call.first_key());
        self.call(
            CallKind::Other,
            self.timeout,
            self.invoke_routed(&call, &route),
        )
        .await
    }

    /// Bumps the near caches' reset epoch (after a counter reset); its new value.
    ///
    /// # Errors
    /// Redis failures or timeouts.
    pub async fn bump_near_resets(&self) -> Result<u64, StoreError> {
        let mut call = self.near_reset.call();
        call.key(keys::near_reset_key(&self.prefix))
            .arg(keys::LONG_TTL_MS);
        let mut conn = self.conn();
        self.admin(call.invoke(&mut conn, &self.metrics)).await
    }

    /// Reads the near caches' reset epoch (0 when never bumped or expired).
    ///
    /// # Errors
    /// Redis failures or timeouts.
    pub async fn near_resets(&self) -> Result<u64, StoreError> {
        let mut conn = self.conn();
        let v: Option<u64> = self
            .bounded(
                self.timeout,
                redis::cmd("GET")
                    .arg(keys::near_reset_key(&self.prefix))
                    .query_async(&mut conn),
            )
            .await?;
        Ok(v.unwrap_or(0))
    }
}

fn parse_lease_reply(reply: &[i64], windows: usize) -> Result<LeaseReply, StoreError> {
    let bad = || {
        StoreError::Reply(format!(
            "lease script returned {reply:?} for {windows} windows"
        ))
    };
    if reply.len() != 5 + 5 * windows {
        return Err(bad());
    }
    let to_u64 = |v: i64| u64::try_from(v).map_err(|_| bad());
    let reported = usize::try_from(reply[1]).map_err(|_| bad())?;
    if !(1..=windows).contains(&reported) {
        return Err(bad());
    }
    let mut per_window = Vec::with_capacity(windows);
    let mut counters = Vec::with_capacity(windows);
    for w in reply[5..].chunks_exact(5) {
        per_window.push((to_u64(w[0])?, to_u64(w[1])?));
        counters.push(Counter {
            index: to_u64(w[2])?,
            current: to_u64(w[3])?,
            previous: to_u64(w[4])?,
        });
    }
    let allowed = reply[0] == 1;
    let granted = to_u64(reply[4])?;
    if allowed == (granted == 0) {
        return Err(bad());
    }
    Ok(LeaseReply {
        outcome: Outcome {
            allowed,
            reported: reported - 1,
            retry_after_ms: to_u64(reply[2])?,
            windows: per_window,
        },
        redis_now_ms: to_u64(reply[3])?,
        granted,
        counters,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_replies_are_read_strictly() {
        let r = parse_lease_reply(&[1, 1, 0, 1_700_000_000_000, 10, 90, 500, 7, 10, 0], 1).unwrap();
        assert!(r.outcome.allowed);
        assert_eq!(r.granted, 10);
        assert_eq!(r.outcome.windows, vec![(90, 500)]);
        assert_eq!(
            r.counters,
            vec![Counter {
                index: 7,
                current: 10,
                previous: 0
            }]
        );
        let denied = parse_lease_reply(&[0, 1, 300, 5, 0, 0, 500, 7, 100, 3], 1).unwrap();
        assert!(!denied.outcome.allowed);
        assert_eq!(denied.outcome.retry_after_ms, 300);
        assert!(
            parse_lease_reply(&[1, 1, 0, 5, 0, 1, 1, 1, 1, 1], 1).is_err(),
            "allowed, none granted"
        );
        assert!(
            parse_lease_reply(&[1, 1, 0, 5, 1, 1, 1, 1, 1], 1).is_err(),
            "short"
        );
        assert!(
            parse_lease_reply(&[1, 2, 0, 5, 1, 1, 1, 1, 1, 1], 1).is_err(),
            "window"
        );
        assert!(
            parse_lease_reply(&[1, 1, 0, 5, 1, 1, 1, -1, 1, 1], 1).is_err(),
            "negative"
        );
    }
}
