//! Everything the node asks Redis, each call bounded by a timeout.
//!
//! One multiplexed, auto-reconnecting connection ([`ConnectionManager`]) is shared by every
//! request: concurrent decisions are pipelined on it instead of queueing for a pool. It connects
//! lazily, so a node starts while Redis is down and reconnects by itself when Redis returns.
//!
//! - [`decision`](Store::check): the one command of the decision path (`EVALSHA` of
//!   `lua/check.lua`, reloaded transparently on `NOSCRIPT`), skipped while the [`breaker`] is
//!   open.
//! - [`breaker`]: stops decisions from waiting for a Redis that keeps failing.
//! - `policies`: load, poll the version, seed, put and delete (atomically with the version bump).
//! - `registry`: heartbeats, deregistration and the list of nodes.
//! - `counters`: cursor-paginated listing and reset of counters.

pub mod breaker;
mod counters;
mod policies;
mod registry;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ratelimiter_schema::{Policy, keys};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisResult, Script};

use crate::algorithm::Outcome;
use crate::error::StoreError;
use crate::metrics::Metrics;
use breaker::{Admission, Breaker};

pub use policies::StoredPolicies;

/// The node's handle on Redis. Cheap to share (`Arc` it once).
pub struct Store {
    conn: ConnectionManager,
    prefix: String,
    timeout: Duration,
    admin_timeout: Duration,
    metrics: Arc<Metrics>,
    check: Script,
    policy_put: Script,
    policy_delete: Script,
    policy_seed: Script,
    heartbeat: Script,
    breaker: Arc<Breaker>,
    /// The origin of the breaker's clock.
    epoch: Instant,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// What the check script answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReply {
    /// The decision.
    pub outcome: Outcome,
    /// Redis time of the decision, Unix ms.
    pub redis_now_ms: u64,
}

impl Store {
    /// A store on `redis_url` that connects on first use; `ca_pem` replaces the trusted roots
    /// for `rediss://`. Must be called inside a Tokio runtime.
    ///
    /// # Errors
    /// When the URL does not parse.
    pub fn new(
        redis_url: &str,
        ca_pem: Option<&[u8]>,
        prefix: &str,
        timeout: Duration,
        metrics: Arc<Metrics>,
    ) -> RedisResult<Self> {
        let client = match ca_pem {
            Some(pem) => redis::Client::build_with_tls(
                redis_url,
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem.to_vec()),
                },
            )?,
            None => redis::Client::open(redis_url)?,
        };
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout.max(Duration::from_millis(500))))
            .set_response_timeout(Some(timeout.max(Duration::from_secs(1))))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(Self {
            conn,
            prefix: prefix.to_owned(),
            timeout,
            admin_timeout: (timeout * 20).max(Duration::from_secs(1)),
            metrics,
            check: Script::new(include_str!("../lua/check.lua")),
            policy_put: Script::new(ratelimiter_schema::scripts::POLICY_PUT),
            policy_delete: Script::new(ratelimiter_schema::scripts::POLICY_DELETE),
            policy_seed: Script::new(ratelimiter_schema::scripts::POLICY_SEED),
            heartbeat: Script::new(include_str!("../lua/heartbeat.lua")),
            breaker: Arc::new(Breaker::new(timeout)),
            epoch: Instant::now(),
        })
    }

    /// The SHA1 of the check script (for `redis-benchmark EVALSHA`).
    pub fn check_script_sha(&self) -> &str {
        self.check.get_hash()
    }

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
        let mut inv = self.check.prepare_invoke();
        for w in &policy.windows {
            inv.key(keys::counter_key(
                &self.prefix,
                user_key,
                &policy.name,
                w.window_ms,
            ));
        }
        inv.arg(cost);
        for w in &policy.windows {
            inv.arg(w.limit).arg(w.window_ms);
        }
        match self.breaker.admit(self.now_ms()) {
            Admission::Call => {}
            Admission::Probe => {
                self.spawn_probe();
                return Err(self.skipped());
            }
            Admission::Skip => return Err(self.skipped()),
        }
        let mut conn = self.conn.clone();
        let reply: Vec<i64> = self
            .bounded(self.timeout, inv.invoke_async(&mut conn))
            .await?;
        parse_check_reply(&reply, policy.windows.len())
    }

    /// Measures one `PING` round trip.
    ///
    /// # Errors
    /// As [`Store::check`].
    pub async fn ping(&self) -> Result<Duration, StoreError> {
        let mut conn = self.conn.clone();
        let start = Instant::now();
        let _: String = self
            .bounded(self.timeout, redis::cmd("PING").query_async(&mut conn))
            .await?;
        let rtt = start.elapsed();
        self.metrics.redis_rtt_us.store(
            u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX),
            std::sync::atomic::Ordering::Relaxed,
        );
        Ok(rtt)
    }

    /// Counts a decision that skipped Redis.
    fn skipped(&self) -> StoreError {
        self.metrics
            .redis_skipped
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        StoreError::Skipped
    }

    /// Pings Redis in the background; its answer closes the breaker (or keeps it open).
    fn spawn_probe(&self) {
        let mut conn = self.conn.clone();
        let (breaker, epoch, timeout) = (Arc::clone(&self.breaker), self.epoch, self.timeout);
        tokio::spawn(async move {
            let ping = redis::cmd("PING");
            match tokio::time::timeout(timeout, ping.query_async::<String>(&mut conn)).await {
                Ok(Ok(_)) => breaker.record_success(ms_since(epoch)),
                _ => breaker.record_failure(ms_since(epoch)),
            }
        });
    }

    /// Milliseconds since the store was made, for the breaker.
    fn now_ms(&self) -> u64 {
        ms_since(self.epoch)
    }

    /// Runs `fut` with `limit`, counting errors and timeouts; the outcome feeds the breaker.
    async fn bounded<T>(
        &self,
        limit: Duration,
        fut: impl Future<Output = RedisResult<T>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(limit, fut).await {
            Ok(Ok(v)) => {
                self.breaker.record_success(self.now_ms());
                self.metrics.set_redis_ok(true);
                Ok(v)
            }
            Ok(Err(e)) => {
                self.breaker.record_failure(self.now_ms());
                self.metrics
                    .redis_errors
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.metrics.set_redis_ok(false);
                Err(StoreError::Redis(e))
            }
            Err(_) => {
                self.breaker.record_failure(self.now_ms());
                self.metrics
                    .redis_timeouts
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.metrics.set_redis_ok(false);
                Err(StoreError::Timeout(
                    u64::try_from(limit.as_millis()).unwrap_or(u64::MAX),
                ))
            }
        }
    }

    /// Runs a management call with the longer management timeout.
    async fn admin<T>(&self, fut: impl Future<Output = RedisResult<T>>) -> Result<T, StoreError> {
        self.bounded(self.admin_timeout, fut).await
    }

    fn conn(&self) -> ConnectionManager {
        self.conn.clone()
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

/// Milliseconds since `epoch` (the breaker's clock).
fn ms_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
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
