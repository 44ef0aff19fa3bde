//! The decision path's one Redis command: `EVALSHA` of `lua/check.lua` (a `sliding_window`
//! policy) or `lua/gcra.lua` (a `gcra` policy), `EVAL` on `NOSCRIPT`, routed to the primary
//! owning the key's slot, skipped while that shard's breaker is open, and its reply read strictly
//! (both scripts answer the same shape). Its success is the only thing that closes the breaker.

use ratelimiter_schema::{Algorithm, Policy, keys};

use super::handle::Store;
use super::script::ScriptCall;
use crate::algorithm::Outcome;
use crate::error::StoreError;

/// What the check script answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReply {
    /// The decision.
    pub outcome: Outcome,
    /// Redis time of the decision, Unix ms.
    pub redis_now_ms: u64,
}

impl Store {
    /// Decides `cost` for `user_key` under every window of `policy`, atomically, in one Redis
    /// command.
    ///
    /// # Errors
    /// [`StoreError::Timeout`] past the timeout, [`StoreError::Redis`] when Redis fails.
    pub async fn check(
        &self,
        user_key: &str,
        policy: &Policy,
        cost: u64,
    ) -> Result<CheckReply, StoreError> {
        self.check_guarded(user_key, policy, cost, false)
            .await?
            .ok_or_else(|| StoreError::Reply("check script answered absent unasked".into()))
    }

    /// [`Store::check`], and with `guard` (the memory guard is on) the script creates no new
    /// key: `None` when `user_key` has no counter of `policy` yet (the caller decides it in
    /// process).
    ///
    /// # Errors
    /// As [`Store::check`].
    pub async fn check_guarded(
        &self,
        user_key: &str,
        policy: &Policy,
        cost: u64,
        guard: bool,
    ) -> Result<Option<CheckReply>, StoreError> {
        let mut call = match policy.algorithm {
            Algorithm::SlidingWindow => self.sliding_window_call(user_key, policy, cost),
            Algorithm::Gcra => self.gcra_call(user_key, policy, cost),
        };
        if guard {
            call.arg(1);
        }
        if policy.algorithm == Algorithm::SlidingWindow {
            // Only check.lua decides `k` same calls in one (`coalesce`); after the guard's flag,
            // which makes a call not coalescable.
            call.coalescable(cost);
        }
        // The breaker of the primary owning the key's slot (one breaker outside cluster mode).
        let reply: Vec<i64> = self.decision(&call).await?;
        if guard && reply == [-1] {
            return Ok(None);
        }
        parse_check_reply(&reply, policy.windows.len()).map(Some)
    }
}

impl Store {
    /// `check.lua`'s call: one counter per window, then each window's limit and length.
    fn sliding_window_call(&self, user_key: &str, policy: &Policy, cost: u64) -> ScriptCall<'_> {
        let mut call = self.check.call();
        self.counter_keys(&mut call, user_key, policy);
        call.arg(cost);
        window_args(&mut call, policy);
        call
    }

    /// `KEYS`: `user_key`'s counter of each window of `policy`, the layout `check.lua` and
    /// `lease.lua` share.
    pub(super) fn counter_keys(&self, call: &mut ScriptCall<'_>, user_key: &str, policy: &Policy) {
        for w in &policy.windows {
            call.key(keys::counter_key(
                &self.prefix,
                user_key,
                &policy.name,
                w.window_ms,
            ));
        }
    }

    /// `gcra.lua`'s call: the one bucket, then each window's field, `T` and `tau` in µs.
    fn gcra_call(&self, user_key: &str, policy: &Policy, cost: u64) -> ScriptCall<'_> {
        let mut call = self.gcra.call();
        call.key(keys::gcra_key(&self.prefix, user_key, &policy.name));
        call.arg(cost);
        for w in &policy.windows {
            let p = w.gcra();
            call.arg(keys::gcra_field(w.window_ms))
                .arg(p.interval_us)
                .arg(p.tau_us);
        }
        call
    }
}

/// Each window's `limit` and `window_ms`, in `ARGV` after the cost (`check.lua`, `lease.lua`).
pub(super) fn window_args(call: &mut ScriptCall<'_>, policy: &Policy) {
    for w in &policy.windows {
        call.arg(w.limit).arg(w.window_ms);
    }
}

fn parse_check_reply(reply: &[i64], windows: usize) -> Result<CheckReply, StoreError> {
    let bad = || {
        StoreError::Reply(format!(
            "check script returned {reply:?} for {windows} windows"
        ))
    };
    if reply.len() != 4 + 2 * windows {
        return Err(bad());
    }
    let to_u64 = |v: i64| u64::try_from(v).map_err(|_| bad());
    let reported = usize::try_from(reply[1]).map_err(|_| bad())?;
    if !(1..=windows).contains(&reported) {
        return Err(bad());
    }
    let per_window = reply[4..]
        .chunks_exact(2)
        .map(|pair| Ok((to_u64(pair[0])?, to_u64(pair[1])?)))
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(CheckReply {
        outcome: Outcome {
            allowed: reply[0] == 1,
            reported: reported - 1,
            retry_after_ms: to_u64(reply[2])?,
            windows: per_window,
        },
        redis_now_ms: to_u64(reply[3])?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_replies_are_read_strictly() {
        let r = parse_check_reply(&[0, 2, 900, 1_700_000_000_000, 3, 100, 0, 50_000], 2).unwrap();
        assert!(!r.outcome.allowed);
        assert_eq!(r.outcome.reported, 1);
        assert_eq!(r.outcome.windows, vec![(3, 100), (0, 50_000)]);
        assert!(parse_check_reply(&[1, 1, 0, 5, 1], 1).is_err(), "short");
        assert!(
            parse_check_reply(&[1, 2, 0, 5, 1, 1], 1).is_err(),
            "window out of range"
        );
        assert!(
            parse_check_reply(&[1, 1, -1, 5, 1, 1], 1).is_err(),
            "negative"
        );
    }
}
