//! [`Store`] itself: the shared connection, the scripts, the timeouts and the breakers (one per
//! shard) that every Redis call of the node goes through.
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

use ratelimiter_schema::{RedisMode, ShardInfo, keys};
use redis::RedisResult;

use super::batch::Batcher;
use super::breaker::{Admission, Breaker};
use super::conn::{ConnectOptions, RedisConn, is_redirect};
use super::script::{LuaScript, ScriptCall};
use super::shards::{Route, Shards, salt_for};
use crate::error::StoreError;
use crate::metrics::Metrics;

/// How a call's outcome feeds a breaker.
#[derive(Debug, Clone, Copy)]
pub(super) enum CallKind<'a> {
    /// The check script: success closes the breaker of its shard, failure counts towards
    /// opening it.
    Decision(&'a Breaker),
    /// Another write of the decision path (the abuse script): failure counts, success does not
    /// close (it is not a decision).
    DecisionPath(&'a Breaker),
    /// Anything else (reads, management, heartbeats): no breaker hears of it.
    Other,
}

/// The node's handle on Redis. Cheap to share (`Arc` it once).
pub struct Store {
    pub(super) conn: RedisConn,
    pub(super) prefix: String,
    pub(super) timeout: Duration,
    admin_timeout: Duration,
    pub(super) metrics: Arc<Metrics>,
    pub(super) check: LuaScript,
    /// The decision script of `gcra` policies (same reply as `check`).
    pub(super) gcra: LuaScript,
    pub(super) policy_put: LuaScript,
    pub(super) policy_delete: LuaScript,
    pub(super) policy_seed: LuaScript,
    pub(super) heartbeat: LuaScript,
    pub(super) abuse: LuaScript,
    /// The near cache's scripts: a decision that may lease, the give-back, the reset epoch.
    pub(super) lease: LuaScript,
    pub(super) lease_return: LuaScript,
    pub(super) near_reset: LuaScript,
    /// The slot map and one breaker per primary (one in all outside cluster mode).
    pub(super) shards: Arc<Shards>,
    /// `host:port` of the one Redis in single mode.
    pub(super) single_address: Option<String>,
    /// One Redis (`single`): the task that sends concurrent decisions in one pipeline.
    batcher: Option<Batcher>,
    /// The node id, which names the breaker's probe keys.
    node_id: String,
    /// The origin of the breakers' clock.
    epoch: Instant,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("mode", &self.conn.mode())
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// A store that connects on first use, as `opts` says (mode, URLs, CA, timeout);
    /// `node_id` names the breaker's probe keys. Must be called inside a Tokio runtime.
    ///
    /// # Errors
    /// When a URL does not parse (or sentinel mode has no master name).
    pub fn new(
        opts: ConnectOptions<'_>,
        prefix: &str,
        node_id: &str,
        metrics: Arc<Metrics>,
    ) -> RedisResult<Self> {
        let conn = RedisConn::new(opts)?;
        let timeout = opts.timeout;
        let single_address = (opts.mode == RedisMode::Single)
            .then(|| {
                redis::IntoConnectionInfo::into_connection_info(opts.urls.trim())
                    .ok()
                    .map(|i| i.addr().to_string())
            })
            .flatten();
        let batcher = matches!(conn, RedisConn::Single(_)).then(|| Batcher::start(conn.clone()));
        Ok(Self {
            batcher,
            conn,
            prefix: prefix.to_owned(),
            timeout,
            admin_timeout: (timeout * 20).max(Duration::from_secs(1)),
            metrics,
            check: LuaScript::new(include_str!("../lua/check.lua")),
            gcra: LuaScript::new(include_str!("../lua/gcra.lua")),
            policy_put: LuaScript::new(ratelimiter_schema::scripts::POLICY_PUT),
            policy_delete: LuaScript::new(ratelimiter_schema::scripts::POLICY_DELETE),
            policy_seed: LuaScript::new(ratelimiter_schema::scripts::POLICY_SEED),
            heartbeat: LuaScript::new(include_str!("../lua/heartbeat.lua")),
            abuse: LuaScript::new(include_str!("../lua/abuse.lua")),
            lease: LuaScript::new(include_str!("../lua/lease.lua")),
            lease_return: LuaScript::new(include_str!("../lua/lease_return.lua")),
            near_reset: LuaScript::new(include_str!("../lua/near_reset.lua")),
            shards: Arc::new(Shards::new(timeout)),
            single_address,
            node_id: node_id.to_owned(),
            epoch: Instant::now(),
        })
    }

    /// How this store reaches Redis.
    pub fn mode(&self) -> RedisMode {
        self.conn.mode()
    }

    /// Every primary as `/v1/node` reports it: address, slots, round trip, health.
    pub fn shard_report(&self) -> Vec<ShardInfo> {
        let primary = match self.mode() {
            RedisMode::Sentinel => self.conn.sentinel_primary(),
            _ => self.single_address.clone(),
        };
        self.shards.report(primary.as_deref())
    }

    /// The SHA1 of the check script (for `redis-benchmark EVALSHA`).
    pub fn check_script_sha(&self) -> &str {
        self.check.sha()
    }

    /// The SHA1 of the GCRA script (for `redis-benchmark EVALSHA`).
    pub fn gcra_script_sha(&self) -> &str {
        self.gcra.sha()
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

    /// Probes the shard of `route` in the background with a real decision (the check script on
    /// a probe key in that shard's slots, a 1 s window, so the key lives 2 s): only its success
    /// closes the breaker, so a Redis that answers `PING` but refuses writes keeps it open.
    pub(super) fn spawn_probe(&self, route: &Route) {
        let key = match &route.shard {
            Some(shard) => salt_for(shard, |salt| {
                keys::probe_key_salted(&self.prefix, &self.node_id, salt)
            })
            .map(|salt| keys::probe_key_salted(&self.prefix, &self.node_id, salt)),
            None => Some(keys::probe_key(&self.prefix, &self.node_id)),
        };
        let Some(key) = key else { return };
        let direct = route
            .shard
            .as_ref()
            .and_then(|s| self.conn.primary(&s.address));
        let mut conn = direct.unwrap_or_else(|| self.conn.clone());
        let (breaker, epoch, timeout) = (Arc::clone(&route.breaker), self.epoch, self.timeout);
        let (script, metrics) = (self.check.clone(), Arc::clone(&self.metrics));
        tokio::spawn(async move {
            let mut call = script.call();
            call.key(key).arg(1).arg(u32::MAX).arg(1000);
            let probe = call.invoke::<Vec<i64>>(&mut conn, &metrics);
            match tokio::time::timeout(timeout, probe).await {
                Ok(Ok(_)) => breaker.record_success(ms_since(epoch)),
                _ => breaker.record_failure(ms_since(epoch)),
            }
        });
    }

    /// Runs a decision script `call` on the shard of its first key, through that shard's
    /// breaker: skipped while it is open (a half-open probe started when due), and its outcome
    /// recorded in it.
    ///
    /// # Errors
    /// [`StoreError::Skipped`] while the breaker is open, else what [`Store::call`] answers.
    pub(super) async fn decision<T: redis::FromRedisValue>(
        &self,
        call: &ScriptCall<'_>,
    ) -> Result<T, StoreError> {
        let route = self.shards.route(call.first_key());
        match route.breaker.admit(self.now_ms()) {
            Admission::Call => {}
            Admission::Probe => {
                self.spawn_probe(&route);
                return Err(self.skipped());
            }
            Admission::Skip => return Err(self.skipped()),
        }
        self.call(
            CallKind::Decision(&route.breaker),
            self.timeout,
            self.invoke_routed(call, &route),
        )
        .await
    }

    /// Runs `call` on the primary of `route`: on a cluster straight over that primary's own
    /// connection, falling back to the cluster connection (which follows `MOVED`/`ASK` and
    /// waits out `TRYAGAIN`) on a redirect; on one Redis in a pipeline with the concurrent
    /// decisions (`batch`); with Sentinel over the one connection.
    pub(super) async fn invoke_routed<T: redis::FromRedisValue>(
        &self,
        call: &ScriptCall<'_>,
        route: &Route,
    ) -> RedisResult<T> {
        if let Some(mut direct) = route
            .shard
            .as_ref()
            .and_then(|s| self.conn.primary(&s.address))
        {
            match call.invoke(&mut direct, &self.metrics).await {
                Err(e) if is_redirect(&e) => {}
                other => return other,
            }
        }
        let mut conn = self.conn.clone();
        match &self.batcher {
            Some(batcher) => call.invoke_batched(batcher, &mut conn, &self.metrics).await,
            None => call.invoke(&mut conn, &self.metrics).await,
        }
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
        kind: CallKind<'_>,
        limit: Duration,
        fut: impl Future<Output = RedisResult<T>>,
    ) -> Result<T, StoreError> {
        let result = tokio::time::timeout(limit, fut).await;
        match (&result, kind) {
            (Ok(Ok(_)), CallKind::Decision(b)) => b.record_success(self.now_ms()),
            (Ok(Ok(_)), _) | (_, CallKind::Other) => {}
            (_, CallKind::Decision(b) | CallKind::DecisionPath(b)) => {
                b.record_failure(self.now_ms());
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

    /// The longer timeout of management calls.
    pub(super) fn admin_timeout(&self) -> Duration {
        self.admin_timeout
    }

    /// Runs a management call with the longer management timeout.
    pub(super) async fn admin<T>(
        &self,
        fut: impl Future<Output = RedisResult<T>>,
    ) -> Result<T, StoreError> {
        self.bounded(self.admin_timeout, fut).await
    }

    pub(super) fn conn(&self) -> RedisConn {
        self.conn.clone()
    }

    /// Whether any shard's breaker is open (decisions on its keys skip Redis).
    pub fn breaker_open(&self) -> bool {
        self.shards.any_open()
    }
}

/// Milliseconds since `epoch` (the breaker's clock).
fn ms_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
}
