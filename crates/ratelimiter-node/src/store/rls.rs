//! The rate-limit service's Redis calls: the descriptors of one request checked in one atomic
//! script call (`lua/rls_check.lua`, single-Redis mode), and the replacement of an envoy
//! configuration domain's policies (`lua/rls_domain.lua`). Both go through the store's call
//! helpers (timeouts, counters, breaker) like every other call.

use std::sync::LazyLock;

use ratelimiter_schema::keys::{self, LONG_TTL_MS};
use ratelimiter_schema::{Policy, keys::POLICY_FIELD_PREFIX};

use super::handle::Store;
use super::script::LuaScript;
use crate::algorithm::Outcome;
use crate::error::StoreError;

static RLS_CHECK: LazyLock<LuaScript> =
    LazyLock::new(|| LuaScript::new(include_str!("../lua/rls_check.lua")));
static RLS_DOMAIN: LazyLock<LuaScript> =
    LazyLock::new(|| LuaScript::new(include_str!("../lua/rls_domain.lua")));

/// One descriptor of an atomic check: its counter key, policy and whether it is in shadow mode.
#[derive(Debug, Clone, Copy)]
pub struct RlsAsk<'a> {
    /// The user key of its counters.
    pub user_key: &'a str,
    /// Its policy.
    pub policy: &'a Policy,
    /// Shadow mode: over its limit, it blocks nothing.
    pub shadow: bool,
}

/// What the atomic check answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RlsReply {
    /// Whether the cost was consumed (no non-shadow descriptor was over its limit).
    pub consumed: bool,
    /// Per descriptor, in the order asked: `allowed` is false when it is over its limit.
    pub outcomes: Vec<Outcome>,
}

impl Store {
    /// Checks every ask for `cost` in one script call: all are consumed, or (when any that is
    /// not in shadow mode is over its limit) none.
    ///
    /// # Errors
    /// [`StoreError::Timeout`], [`StoreError::Redis`], [`StoreError::Skipped`] while the
    /// breaker is open, [`StoreError::Reply`] for an unreadable answer.
    pub async fn check_rls(&self, asks: &[RlsAsk<'_>], cost: u64) -> Result<RlsReply, StoreError> {
        let mut inv = RLS_CHECK.call();
        for ask in asks {
            for w in &ask.policy.windows {
                inv.key(keys::counter_key(
                    &self.prefix,
                    ask.user_key,
                    &ask.policy.name,
                    w.window_ms,
                ));
            }
        }
        inv.arg(cost).arg(asks.len());
        for ask in asks {
            inv.arg(ask.policy.windows.len()).arg(u8::from(ask.shadow));
            for w in &ask.policy.windows {
                inv.arg(w.limit).arg(w.window_ms);
            }
        }
        let reply: Vec<i64> = self.decision(&inv).await?;
        let sizes: Vec<usize> = asks.iter().map(|a| a.policy.windows.len()).collect();
        parse_rls_reply(&reply, &sizes)
    }

    /// Makes the policies of the domain whose names start with `name_prefix` exactly
    /// `policies`, bumping the version only when something changed. `None` when Redis holds no
    /// policies (seed first), `Some(None)` when nothing changed, else the new version.
    ///
    /// # Errors
    /// Redis failures or timeouts.
    pub async fn replace_rls_policies(
        &self,
        name_prefix: &str,
        policies: &[Policy],
    ) -> Result<Option<Option<u64>>, StoreError> {
        let mut inv = RLS_DOMAIN.call();
        inv.key(keys::policies_key(&self.prefix))
            .arg(LONG_TTL_MS)
            .arg(format!("{POLICY_FIELD_PREFIX}{name_prefix}"));
        for p in policies {
            inv.arg(keys::policy_field(&p.name)).arg(p.to_json());
        }
        let mut conn = self.conn();
        let v: i64 = self.admin(inv.invoke(&mut conn, &self.metrics)).await?;
        Ok(match v {
            -1 => None,
            0 => Some(None),
            v => Some(u64::try_from(v).ok()),
        })
    }
}

fn parse_rls_reply(reply: &[i64], sizes: &[usize]) -> Result<RlsReply, StoreError> {
    let bad = || {
        StoreError::Reply(format!(
            "rls script returned {reply:?} for groups {sizes:?}"
        ))
    };
    let want = 2 + sizes.iter().map(|n| 3 + 2 * n).sum::<usize>();
    if reply.len() != want {
        return Err(bad());
    }
    let to_u64 = |v: i64| u64::try_from(v).map_err(|_| bad());
    let mut at = 2;
    let mut outcomes = Vec::with_capacity(sizes.len());
    for &n in sizes {
        let over = reply[at] == 1;
        let reported = usize::try_from(reply[at + 1]).map_err(|_| bad())?;
        if !(1..=n).contains(&reported) {
            return Err(bad());
        }
        let retry_after_ms = to_u64(reply[at + 2])?;
        let windows = reply[at + 3..at + 3 + 2 * n]
            .chunks_exact(2)
            .map(|pair| Ok((to_u64(pair[0])?, to_u64(pair[1])?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        outcomes.push(Outcome {
            allowed: !over,
            reported: reported - 1,
            retry_after_ms,
            windows,
        });
        at += 3 + 2 * n;
    }
    Ok(RlsReply {
        consumed: reply[0] == 1,
        outcomes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rls_replies_are_read_strictly() {
        let r = parse_rls_reply(&[0, 99, 0, 1, 0, 4, 500, 1, 1, 700, 0, 300], &[1, 1]).unwrap();
        assert!(!r.consumed);
        assert!(r.outcomes[0].allowed && !r.outcomes[1].allowed);
        assert_eq!(r.outcomes[1].retry_after_ms, 700);
        assert_eq!(r.outcomes[0].windows, vec![(4, 500)]);
        assert!(
            parse_rls_reply(&[1, 99, 0, 1, 0, 4], &[1]).is_err(),
            "short"
        );
        assert!(
            parse_rls_reply(&[1, 99, 0, 2, 0, 4, 5], &[1]).is_err(),
            "window"
        );
        assert!(
            parse_rls_reply(&[1, 99, 0, 1, 0, -4, 5], &[1]).is_err(),
            "negative"
        );
    }
}
