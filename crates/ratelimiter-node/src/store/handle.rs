//! [`Store`] itself: the shared connection, the scripts, the timeouts and the breaker that every
//! Redis call of the node goes through.
//!
//! Only a successful *decision* (the check script, or the breaker's probe, which is the check
//! script on [`keys::probe_key`]) closes the breaker: a Redis that answers reads but refuses or
//! stalls writes (`CLIENT PAUSE WRITE`, a read-only replica after a failover, `OOM` under
//! `noeviction`) must keep it open, and reads (policy poll, `PING`, `/readyz`, registry) say
//! nothing about writes. Failures of the decision path (the check and abuse scripts) count
//! towards opening it; other calls do not touch it.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ratelimiter_schema::keys;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisResult, Script};

use super::breaker::Breaker;
use crate::error::StoreError;
use crate::metrics::Metrics;

/// How a call's outcome feeds the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CallKind {
    /// The check script: success closes the breaker, failure counts towards opening it.
    Decision,
    /// Another write of the decision path (the abuse script): failure counts, success does not
    /// close (it is not a decision).
    DecisionPath,
    /// Anything else (reads, management, heartbeats): the breaker ignores it.
    Other,
}

/// The node's handle on Redis. Cheap to share (`Arc` it once).
pub struct Store {
    pub(super) conn: ConnectionManager,
    pub(super) prefix: String,
    pub(super) timeout: Duration,
    admin_timeout: Duration,
    metrics: Arc<Metrics>,
    pub(super) check: Script,
    pub(super) policy_put: Script,
    pub(super) policy_delete: Script,
    pub(super) policy_seed: Script,
    pub(super) heartbeat: Script,
    pub(super) abuse: Script,
    pub(super) breaker: Arc<Breaker>,
    /// The key the half-open probe writes ([`keys::probe_key`]).
    probe_key: String,
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

impl Store {
    /// A store on `redis_url` that connects on first use; `ca_pem` replaces the trusted roots
    /// for `rediss://`; `node_id` names the breaker's probe key. Must be called inside a Tokio
    /// runtime.
    ///
    /// # Errors
    /// When the URL does not parse.
    pub fn new(
        redis_url: &str,
        ca_pem: Option<&[u8]>,
        prefix: &str,
        node_id: &str,
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
            abuse: Script::new(include_str!("../lua/abuse.lua")),
            breaker: Arc::new(Breaker::new(timeout)),
            probe_key: keys::probe_key(prefix, node_id),
            epoch: Instant::now(),
        })
    }

    /// The SHA1 of the check script (for `redis-benchmark EVALSHA`).
    pub fn check_script_sha(&self) -> &str {
        self.check.get_hash()
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
    pub(super) fn skipped(&self) -> StoreError {
        self.metrics
            .redis_skipped
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        StoreError::Skipped
    }

    /// Probes Redis in the background with a real decision (the check script on the probe key,
    /// a 1 s window, so the key lives 2 s): only its success closes the breaker, so a Redis that
    /// answers `PING` but refuses writes keeps it open.
    pub(super) fn spawn_probe(&self) {
        let mut conn = self.conn.clone();
        let (breaker, epoch, timeout) = (Arc::clone(&self.breaker), self.epoch, self.timeout);
        let (script, key) = (self.check.clone(), self.probe_key.clone());
        tokio::spawn(async move {
            let mut inv = script.prepare_invoke();
            inv.key(key).arg(1).arg(u32::MAX).arg(1000);
            let call = inv.invoke_async::<Vec<i64>>(&mut conn);
            match tokio::time::timeout(timeout, call).await {
                Ok(Ok(_)) => breaker.record_success(ms_since(epoch)),
                _ => breaker.record_failure(ms_since(epoch)),
            }
        });
    }

    /// Milliseconds since the store was made, for the breaker.
    pub(super) fn now_ms(&self) -> u64 {
        ms_since(self.epoch)
    }

    /// Runs `fut` with `limit`, counting errors and timeouts; the breaker ignores it.
    pub(super) async fn bounded<T>(
        &self,
        limit: Duration,
        fut: impl Future<Output = RedisResult<T>>,
    ) -> Result<T, StoreError> {
        self.call(CallKind::Other, limit, fut).await
    }

    /// Runs `fut` with `limit`, counting errors and timeouts; its outcome feeds the breaker as
    /// `kind` says.
    pub(super) async fn call<T>(
        &self,
        kind: CallKind,
        limit: Duration,
        fut: impl Future<Output = RedisResult<T>>,
    ) -> Result<T, StoreError> {
        let result = tokio::time::timeout(limit, fut).await;
        match (&result, kind) {
            (Ok(Ok(_)), CallKind::Decision) => self.breaker.record_success(self.now_ms()),
            (Ok(Ok(_)), _) | (_, CallKind::Other) => {}
            (_, CallKind::Decision | CallKind::DecisionPath) => {
                self.breaker.record_failure(self.now_ms());
            }
        }
        match result {
            Ok(Ok(v)) => {
                self.metrics.set_redis_ok(true);
                Ok(v)
            }
            Ok(Err(e)) => {
                self.metrics
                    .redis_errors
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.metrics.set_redis_ok(false);
                Err(StoreError::Redis(e))
            }
            Err(_) => {
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
    pub(super) async fn admin<T>(
        &self,
        fut: impl Future<Output = RedisResult<T>>,
    ) -> Result<T, StoreError> {
        self.bounded(self.admin_timeout, fut).await
    }

    pub(super) fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// Whether the breaker is open (decisions skip Redis).
    pub fn breaker_open(&self) -> bool {
        self.breaker.is_open()
    }
}

/// Milliseconds since `epoch` (the breaker's clock).
fn ms_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
}
