//! The teaching mode `naive` (`--limiter-mode naive`): the decision of [`Store::check`] taken
//! the way a naive limiter takes it, in two Redis calls instead of one. It is deliberately NOT
//! exact and never meant for production.
//!
//! 1. `lua/naive_read.lua` reads every window's counter hash (the same keys and fields `w`, `c`,
//!    `p` as `lua/check.lua`) and Redis `TIME`, writing nothing;
//! 2. the node decides with the pure [`algorithm::decide`], as the script would;
//! 3. when it admits, `lua/naive_incr.lua` adds the cost to every window, with its TTL.
//!
//! Between 1 and 3, every other request on every node reads the same counts and is admitted
//! too: under concurrency the limit is exceeded, and the counters in Redis say by how much
//! (the increments themselves lose nothing), which is what the operator's `over_admission`
//! sees. Both calls are scripts only so that they carry their keys (routed to the key's
//! primary on a cluster, as the check is) and read Redis `TIME`; each goes through the shard's
//! breaker, and a failure of either falls to the failure mode, exactly as in `atomic` mode.

use std::sync::LazyLock;

use ratelimiter_schema::{Policy, keys};

use super::check::CheckReply;
use super::handle::Store;
use super::script::LuaScript;
use crate::algorithm::{self, Counter};
use crate::error::StoreError;

/// The read of the first call.
static READ: LazyLock<LuaScript> =
    LazyLock::new(|| LuaScript::new(include_str!("../lua/naive_read.lua")));
/// The increment of the second call.
static INCREMENT: LazyLock<LuaScript> =
    LazyLock::new(|| LuaScript::new(include_str!("../lua/naive_incr.lua")));

impl Store {
    /// [`Store::check_guarded`] in the teaching mode `naive`: read, decide in the node, then
    /// increment in a separate call, so concurrent requests race past the limit. `None` with
    /// `guard` when no window of `user_key` has a counter yet (decided in process, as in
    /// `atomic` mode).
    ///
    /// # Errors
    /// As [`Store::check`], for either call.
    pub async fn check_naive(
        &self,
        user_key: &str,
        policy: &Policy,
        cost: u64,
        guard: bool,
    ) -> Result<Option<CheckReply>, StoreError> {
        let names: Vec<String> = policy
            .windows
            .iter()
            .map(|w| keys::counter_key(&self.prefix, user_key, &policy.name, w.window_ms))
            .collect();
        let mut read = READ.call();
        for name in &names {
            read.key(name);
        }
        let reply: Vec<i64> = self.decision(&read).await?;
        let (now_ms, mut counters, exists) = parse_read_reply(&reply, names.len())?;
        if guard && !exists {
            return Ok(None);
        }
        let outcome = algorithm::decide(&mut counters, &policy.windows, cost, now_ms);
        if outcome.allowed {
            let mut increment = INCREMENT.call();
            for name in &names {
                increment.key(name);
            }
            increment.arg(cost);
            for (counter, w) in counters.iter().zip(&policy.windows) {
                increment.arg(counter.index).arg(w.window_ms);
            }
            let _: i64 = self.decision(&increment).await?;
        }
        Ok(Some(CheckReply {
            outcome,
            redis_now_ms: now_ms,
        }))
    }
}

/// Redis time, the counters as read (a missing key as an empty counter), and whether any key
/// existed.
fn parse_read_reply(
    reply: &[i64],
    windows: usize,
) -> Result<(u64, Vec<Counter>, bool), StoreError> {
    let bad = || {
        StoreError::Reply(format!(
            "naive read script returned {reply:?} for {windows} windows"
        ))
    };
    if reply.len() != 1 + 3 * windows {
        return Err(bad());
    }
    let to_u64 = |v: i64| u64::try_from(v).map_err(|_| bad());
    let now_ms = to_u64(reply[0])?;
    let mut exists = false;
    let mut counters = Vec::with_capacity(windows);
    for field in reply[1..].chunks_exact(3) {
        if field[0] == -1 {
            counters.push(Counter::default());
            continue;
        }
        exists = true;
        counters.push(Counter {
            index: to_u64(field[0])?,
            current: to_u64(field[1])?,
            previous: to_u64(field[2])?,
        });
    }
    Ok((now_ms, counters, exists))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_replies_are_read_strictly() {
        let (now, counters, exists) =
            parse_read_reply(&[1_700_000_000_000, 28_333_333, 7, 3, -1, 0, 0], 2).unwrap();
        assert_eq!(now, 1_700_000_000_000);
        assert!(exists);
        assert_eq!(
            counters,
            vec![
                Counter {
                    index: 28_333_333,
                    current: 7,
                    previous: 3
                },
                Counter::default()
            ]
        );
        let (_, _, exists) = parse_read_reply(&[5, -1, 0, 0], 1).unwrap();
        assert!(!exists, "no key yet");
        assert!(parse_read_reply(&[5, 1, 2], 1).is_err(), "short");
        assert!(parse_read_reply(&[5, 1, -2, 0], 1).is_err(), "negative");
        assert!(
            parse_read_reply(&[-5, 1, 2, 0], 1).is_err(),
            "negative time"
        );
    }
}
