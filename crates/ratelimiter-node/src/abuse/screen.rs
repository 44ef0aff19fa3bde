//! Screening one request of a protected endpoint: [`Node::screen_client`], called before the
//! decision. At most one Redis call (the abuse script), none for a client known blocked or a
//! key it already used this minute; with Redis failing the guard fails open.

use std::net::IpAddr;
use std::sync::atomic::Ordering::Relaxed;

use ratelimiter_schema::{BlockReason, BlockedClient};

use super::clients::{Known, key_hash};
use super::response::Blocked;
use crate::node::Node;
use crate::store::{AbuseAsk, AbuseState};

impl Node {
    /// Screens a request from `client` limited by `identifier` (`api:...`, clear or
    /// fingerprinted, counts as an API key; anything else only checks the block). `Some` when
    /// the client is blocked: answer [`Blocked`] and do not decide.
    pub async fn screen_client(&self, client: IpAddr, identifier: &str) -> Option<Blocked> {
        let guard = &self.abuse;
        if !guard.enabled() {
            return None;
        }
        let client = guard.client_id(client);
        let key = identifier
            .starts_with("api:")
            .then(|| guard.key_id(identifier));
        let honeypot = key.as_deref().is_some_and(|k| guard.is_honeypot(k));
        let counted = key.as_deref().filter(|_| guard.limit > 0);
        let hash = counted.map(key_hash);
        let now = self.clock_ms();
        if honeypot {
            self.metrics.abuse_honeypot_hits.fetch_add(1, Relaxed);
        }
        let known = guard.clients.lookup(&client, hash, now);
        let ask = match (known, honeypot, counted) {
            (Known::Blocked { retry_ms }, false, _) => return Some(self.refuse(retry_ms)),
            (Known::Clear, false, _) => return None,
            (_, true, _) => AbuseAsk::Honeypot,
            (Known::Count, false, Some(key)) => AbuseAsk::Count {
                key,
                limit: guard.limit,
            },
            _ => AbuseAsk::Check,
        };
        let reply = self
            .store
            .screen(&client, now / 60_000, ask, guard.block)
            .await;
        let reply = match reply {
            Ok(r) => r,
            Err(error) if honeypot => {
                // Redis cannot record the block: hold it here at least.
                tracing::debug!(%error, "honeypot block kept in process only");
                let ms = u64::try_from(guard.block.as_millis()).unwrap_or(u64::MAX);
                return Some(self.newly_blocked(&client, BlockReason::Honeypot, ms, None, None));
            }
            Err(error) => {
                tracing::debug!(%error, "abuse screening skipped: failing open");
                return None;
            }
        };
        match reply.state {
            AbuseState::Clear { .. } => {
                guard.clients.record_clear(&client, hash, now);
                None
            }
            AbuseState::Blocked { ttl_ms } => {
                guard
                    .clients
                    .record_block(&client, now.saturating_add(ttl_ms), now);
                Some(self.refuse(ttl_ms))
            }
            AbuseState::NewlyBlocked {
                ttl_ms,
                distinct_keys,
            } => {
                let reason = if honeypot {
                    BlockReason::Honeypot
                } else {
                    BlockReason::Enumeration
                };
                let at = Some(reply.redis_now_ms);
                Some(self.newly_blocked(&client, reason, ttl_ms, distinct_keys, at))
            }
        }
    }

    /// Records a block this node made (counted, listed, remembered) and refuses the request.
    fn newly_blocked(
        &self,
        client: &str,
        reason: BlockReason,
        ttl_ms: u64,
        distinct_keys: Option<u64>,
        redis_now_ms: Option<u64>,
    ) -> Blocked {
        let now = self.clock_ms();
        let at_ms = redis_now_ms.unwrap_or(now);
        self.abuse
            .clients
            .record_block(client, now.saturating_add(ttl_ms), now);
        let counter = match reason {
            BlockReason::Enumeration => &self.metrics.abuse_blocks_enumeration,
            BlockReason::Honeypot => &self.metrics.abuse_blocks_honeypot,
        };
        counter.fetch_add(1, Relaxed);
        self.abuse.recent.push(BlockedClient {
            client: client.to_owned(),
            reason,
            distinct_keys,
            at_ms,
            until_ms: at_ms.saturating_add(ttl_ms),
        });
        tracing::warn!(client, ?reason, distinct_keys, ttl_ms, "client blocked");
        self.refuse(ttl_ms)
    }

    fn refuse(&self, retry_after_ms: u64) -> Blocked {
        self.metrics.abuse_blocked_requests.fetch_add(1, Relaxed);
        Blocked { retry_after_ms }
    }
}
