//! The running node: configuration, Redis store, loaded policies and counters, shared by every
//! request handler and background task.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use ratelimiter_schema::{AbuseInfo, FailureDecisions, NodeInfo, PolicySet};

use crate::abuse::{AbuseGuard, MemoryGuard};
use crate::config::Config;
use crate::error::ConfigError;
use crate::local::LocalLimiter;
use crate::metrics::Metrics;
use crate::store::Store;

/// A policy set as loaded by this node, with where it came from.
#[derive(Debug, Clone)]
pub struct LoadedPolicies {
    /// The policies.
    pub set: PolicySet,
    /// Their version in Redis (0 before the first load).
    pub version: u64,
    /// [`PolicySet::digest`] of `set`.
    pub digest: String,
    /// Whether they came from Redis (else from the seed, Redis not yet reached).
    pub from_redis: bool,
}

impl LoadedPolicies {
    /// Wraps `set`, computing its digest.
    pub fn new(set: PolicySet, version: u64, from_redis: bool) -> Self {
        let digest = set.digest();
        Self {
            set,
            version,
            digest,
            from_redis,
        }
    }
}

/// The shared state of one node. Build it with [`Node::new`], then [`crate::serve`] it.
#[derive(Debug)]
pub struct Node {
    pub(crate) config: Config,
    pub(crate) store: Store,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) local: LocalLimiter,
    /// Enumeration and honeypot screening of the protected endpoints.
    pub(crate) abuse: AbuseGuard,
    /// Whether Redis is near `maxmemory` (new keys are then limited in process).
    pub(crate) memory_guard: MemoryGuard,
    /// The in-process limiter of keys decided under the memory guard.
    pub(crate) guard_local: LocalLimiter,
    /// The counters of the teaching mode `memory` (`--limiter-mode memory`): every decision in
    /// this process, at the whole limit.
    pub(crate) in_memory: LocalLimiter,
    policies: RwLock<Arc<LoadedPolicies>>,
    started: Instant,
    pub(crate) up_nodes: AtomicUsize,
    pub(crate) started_redis_ms: AtomicU64,
    pub(crate) advertise: OnceLock<String>,
    /// The rate-limit service: envoy configuration domains and file statuses.
    pub(crate) rls: crate::rls::RlsState,
    /// The near cache (`--near-cache`), when on.
    pub(crate) near: Option<crate::near::NearCache>,
    /// The tracer of decision spans, when the binary installed one.
    pub(crate) tracer: crate::otel::DecisionTracer,
}

impl Node {
    /// Validates `config` and prepares the node (Redis is connected lazily: this succeeds while
    /// Redis is down). Must be called inside a Tokio runtime.
    ///
    /// # Errors
    /// Any [`ConfigError`].
    pub fn new(config: Config) -> Result<Arc<Self>, ConfigError> {
        config.validate()?;
        let metrics = Arc::new(Metrics::new());
        let connect = crate::store::ConnectOptions {
            mode: config.redis_mode,
            urls: &config.redis_url,
            ca_pem: config.redis_ca_pem.as_deref(),
            sentinel_master: config.sentinel_master.as_deref(),
            timeout: config.redis_timeout,
        };
        let store = Store::new(
            connect,
            &config.key_prefix,
            &config.node_id,
            metrics.clone(),
        )
        .map_err(|source| ConfigError::RedisUrl {
            url: crate::config::mask_password(&config.redis_url),
            source,
        })?;
        let seed = LoadedPolicies::new(config.seed_policies.clone(), 0, false);
        let abuse = AbuseGuard::new(&config.abuse, identifier_secret(&config));
        let memory_guard = MemoryGuard::new(config.abuse.memory_guard_ratio);
        let near = config
            .near_cache
            .then(|| crate::near::NearCache::new(config.near_cache_max_bytes));
        Ok(Arc::new(Self {
            near,
            config,
            store,
            metrics,
            local: LocalLimiter::default(),
            abuse,
            memory_guard,
            guard_local: LocalLimiter::default(),
            in_memory: LocalLimiter::default(),
            policies: RwLock::new(Arc::new(seed)),
            started: Instant::now(),
            up_nodes: AtomicUsize::new(1),
            started_redis_ms: AtomicU64::new(0),
            advertise: OnceLock::new(),
            rls: crate::rls::RlsState::default(),
            tracer: crate::otel::DecisionTracer::default(),
        }))
    }

    /// Exports a span per decision through `tracer` (see [`crate::otel`]); whether it was the
    /// first tracer set (a later one is ignored).
    pub fn set_tracer(&self, tracer: otlp_export::Tracer) -> bool {
        self.tracer.set(tracer)
    }

    /// Whether decisions are traced (a tracer is set).
    pub fn tracing_on(&self) -> bool {
        self.tracer.is_on()
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The Redis store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The counters.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The rate-limit service's domains and configuration files.
    pub fn rls(&self) -> &crate::rls::RlsState {
        &self.rls
    }

    /// The near cache's figures (`near_cache` in `/v1/node`; all 0 when it is off).
    pub fn near_info(&self) -> crate::near::NearInfo {
        match &self.near {
            Some(near) => near.stats.info(true, near.max_bytes()),
            None => crate::near::NearInfo {
                max_bytes: self.config.near_cache_max_bytes,
                ..Default::default()
            },
        }
    }

    /// The policies currently loaded.
    pub fn policies(&self) -> Arc<LoadedPolicies> {
        // A poisoned lock still holds a complete Arc (it is only ever replaced whole).
        self.policies
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn set_policies(&self, loaded: LoadedPolicies) {
        *self
            .policies
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(loaded);
        // Cached denials and leases were decided under the policies just replaced. After the
        // swap: a decision reads the cache's generation before it selects its policy, so one
        // that selected the old policy cannot cache its answer under the new generation.
        if let Some(near) = &self.near {
            near.invalidate_all();
        }
    }

    /// Unix ms by this node's clock: the clock of the `local` failure mode and of the memory
    /// guard's in-process limiting, shifted by `--clock-offset-ms` (a fault-injection knob, so
    /// a skew test shifts the clock the node really uses). `now_ms` in `/v1/node`.
    pub fn clock_ms(&self) -> u64 {
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let real = i64::try_from(real).unwrap_or(i64::MAX);
        u64::try_from(real.saturating_add(self.config.clock_offset_ms)).unwrap_or(0)
    }

    /// The same as [`Node::clock_ms`] (the name `/v1/node` reports it under).
    pub fn now_ms(&self) -> u64 {
        self.clock_ms()
    }

    /// Nodes Up as last read from the registry (at least 1).
    pub fn up_nodes(&self) -> usize {
        self.up_nodes.load(Relaxed).max(1)
    }

    /// The body of `GET /v1/node`.
    pub fn info(&self) -> NodeInfo {
        let m = &self.metrics;
        let get = |a: &AtomicU64| a.load(Relaxed);
        let failure = FailureDecisions {
            open: get(&m.failure_open),
            closed: get(&m.failure_closed),
            local: get(&m.failure_local_allowed) + get(&m.failure_local_denied),
        };
        let allowed = get(&m.allowed)
            + get(&m.failure_open)
            + get(&m.failure_local_allowed)
            + get(&m.memory_guard_allowed);
        let denied = get(&m.denied)
            + get(&m.failure_closed)
            + get(&m.failure_local_denied)
            + get(&m.memory_guard_denied);
        let policies = self.policies();
        let rtt = get(&m.redis_rtt_us);
        NodeInfo {
            node_id: self.config.node_id.clone(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            uptime_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            decisions: allowed + denied,
            allowed,
            denied,
            near_limit: get(&m.near_limit),
            failure_decisions: failure,
            policy_version: policies.version,
            policy_digest: policies.digest.clone(),
            policies_loaded: policies.set.len(),
            policies_from_redis: policies.from_redis,
            redis_rtt_us: (rtt != u64::MAX).then_some(rtt),
            redis_ok: m.redis_ok.load(Relaxed),
            redis_errors: get(&m.redis_errors),
            redis_timeouts: get(&m.redis_timeouts),
            redis_skipped: get(&m.redis_skipped),
            policy_reloads: get(&m.policy_reloads),
            up_nodes: self.up_nodes(),
            now_ms: self.now_ms(),
            key_prefix: self.config.key_prefix.clone(),
            failure_mode: self.config.failure_mode,
            identifier_secret_digest: None,
            clock_skew_ms: m.clock_skew(),
            abuse: self.abuse_info(),
            redis_mode: self.config.redis_mode,
            shards: self.store.shard_report(),
            limiter_mode: self.config.limiter_mode,
        }
    }

    /// The `abuse` part of `/v1/node`.
    fn abuse_info(&self) -> AbuseInfo {
        let m = &self.metrics;
        let get = |a: &AtomicU64| a.load(Relaxed);
        AbuseInfo {
            enumeration_limit: self.config.abuse.enumeration_limit,
            enumeration_blocks: get(&m.abuse_blocks_enumeration),
            honeypot_hits: get(&m.abuse_honeypot_hits),
            blocked_requests: get(&m.abuse_blocked_requests),
            recent_blocks: self.abuse.recent.list(),
            memory_guard: self
                .memory_guard
                .info(get(&m.memory_guard_allowed) + get(&m.memory_guard_denied)),
        }
    }
}

/// The identifier secret clients and keys are fingerprinted under (`--identifier-secret`).
fn identifier_secret(config: &Config) -> Option<&[u8]> {
    config.identifier_secret_bytes()
}
