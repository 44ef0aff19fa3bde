//! The Redis half of an observation: PING, INFO, TIME, the policies, the node registry, and a
//! bounded step of the key scan.

use std::collections::HashMap;
use std::time::Duration;

use ratelimiter_schema::keys::{self, POLICY_FIELD_PREFIX, POLICY_VERSION_FIELD};
use ratelimiter_schema::{NodeEntry, NodeRecord, Policy, PolicySet};
use redis::aio::MultiplexedConnection;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::scan::ScanState;
use crate::config::{RateLimiterConfig, redact_url};
use crate::error::{Error, Result};
use crate::info::RedisInfo;
use crate::observation::{InvalidField, PolicyView, RedisView};

/// Redis `TIME` and the local instant it was read at, to compare other clocks with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RedisClock {
    time_ms: u64,
    at: Instant,
}

impl RedisClock {
    /// `clock_ms` (read at local instant `at`) minus Redis time at that instant, in ms.
    pub(crate) fn skew_ms(&self, clock_ms: u64, at: Instant) -> i64 {
        let elapsed = i64::try_from(at.saturating_duration_since(self.at).as_millis())
            .unwrap_or(i64::MAX)
            - i64::try_from(self.at.saturating_duration_since(at).as_millis()).unwrap_or(i64::MAX);
        let redis_then = i64::try_from(self.time_ms)
            .unwrap_or(i64::MAX)
            .saturating_add(elapsed);
        i64::try_from(clock_ms)
            .unwrap_or(i64::MAX)
            .saturating_sub(redis_then)
    }
}

/// One reconnecting connection to Redis, and the scan state carried between observations.
pub(crate) struct RedisSource {
    client: redis::Client,
    conn: Mutex<Option<MultiplexedConnection>>,
    timeout: Duration,
    pub(crate) scan: Mutex<ScanState>,
}

impl RedisSource {
    pub(crate) fn new(config: &RateLimiterConfig) -> Result<Self> {
        let client = redis::Client::open(config.redis_url.as_str()).map_err(|e| {
            Error::Config(format!(
                "redis url {:?}: {e}",
                redact_url(&config.redis_url)
            ))
        })?;
        Ok(Self {
            client,
            conn: Mutex::new(None),
            timeout: config.redis_timeout,
            scan: Mutex::new(ScanState::default()),
        })
    }

    /// A connection, reusing the last one; dropped by [`Self::forget`] after an error.
    pub(crate) async fn connection(&self) -> Result<MultiplexedConnection> {
        let mut slot = self.conn.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        let conn = tokio::time::timeout(
            self.timeout,
            self.client
                .get_multiplexed_async_connection_with_config(&config),
        )
        .await
        .map_err(|_| Error::RedisTimeout(self.timeout.as_millis()))??;
        *slot = Some(conn.clone());
        Ok(conn)
    }

    async fn forget(&self) {
        *self.conn.lock().await = None;
    }

    /// Runs `f` on a connection within `bound`, forgetting the connection on failure.
    pub(crate) async fn run<T, F, Fut>(&self, bound: Duration, f: F) -> Result<T>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let conn = self.connection().await?;
        let outcome = tokio::time::timeout(bound, f(conn)).await;
        let result = match outcome {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(Error::Redis(e)),
            Err(_) => Err(Error::RedisTimeout(bound.as_millis())),
        };
        if result.is_err() {
            self.forget().await;
        }
        result
    }

    /// Observes Redis. Never fails: what could not be read is `None`, with the error.
    pub(crate) async fn observe(
        &self,
        config: &RateLimiterConfig,
    ) -> (RedisView, Option<RedisClock>) {
        let mut view = RedisView {
            url: redact_url(&config.redis_url),
            ..Default::default()
        };
        let started = Instant::now();
        let ping = self
            .run(self.timeout, |mut c| async move {
                redis::cmd("PING").query_async::<String>(&mut c).await
            })
            .await;
        match ping {
            Ok(_) => {
                view.reachable = true;
                view.ping_us =
                    Some(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX));
            }
            Err(e) => {
                view.error = Some(e.to_string());
                return (view, None);
            }
        }

        let prefix = config.key_prefix.clone();
        let sent = Instant::now();
        let reads = self
            .run(self.timeout * 2, |mut c| async move {
                redis::pipe()
                    .cmd("INFO")
                    .cmd("TIME")
                    .cmd("HGETALL")
                    .arg(keys::policies_key(&prefix))
                    .cmd("HGETALL")
                    .arg(keys::nodes_key(&prefix))
                    .cmd("DBSIZE")
                    .query_async::<(
                        String,
                        (u64, u64),
                        HashMap<String, String>,
                        HashMap<String, String>,
                        u64,
                    )>(&mut c)
                    .await
            })
            .await;
        let (info, (secs, micros), policies, registry, dbsize) = match reads {
            Ok(r) => r,
            Err(e) => {
                view.error = Some(format!("reads after PING failed: {e}"));
                return (view, None);
            }
        };
        // TIME was answered somewhere between sending and receiving: take the middle.
        let at = sent + sent.elapsed() / 2;
        let time_ms = secs * 1000 + micros / 1000;
        let clock = RedisClock { time_ms, at };
        let info = RedisInfo::parse(&info);
        view.time_ms = Some(time_ms);
        view.policies = Some(policy_view(&policies));
        view.registry = Some(registry_view(registry, time_ms));

        let limits = view
            .policies
            .as_ref()
            .map(|p| p.policies.clone())
            .unwrap_or_default();
        let mut scan = self.scan.lock().await;
        scan.restart_if_new_server(&info.run_id);
        match scan.step(self, config, &limits, time_ms).await {
            Ok(mut keys) => {
                keys.dbsize = Some(dbsize);
                view.keys = Some(keys);
            }
            Err(e) => view.error = Some(format!("key scan failed: {e}")),
        }
        view.info = Some(info);
        (view, Some(clock))
    }
}

fn policy_view(hash: &HashMap<String, String>) -> PolicyView {
    let mut view = PolicyView {
        present: !hash.is_empty(),
        ..Default::default()
    };
    let mut fields: Vec<(&String, &String)> = hash.iter().collect();
    fields.sort();
    for (field, value) in fields {
        if field == POLICY_VERSION_FIELD {
            match value.parse() {
                Ok(v) => view.version = Some(v),
                Err(e) => view.invalid.push(InvalidField {
                    field: field.clone(),
                    error: format!("version: {e}"),
                }),
            }
        } else if let Some(name) = field.strip_prefix(POLICY_FIELD_PREFIX) {
            match Policy::from_json(name, value) {
                Ok(p) => view.policies.push(p),
                Err(e) => view.invalid.push(InvalidField {
                    field: field.clone(),
                    error: e.to_string(),
                }),
            }
        } else {
            view.invalid.push(InvalidField {
                field: field.clone(),
                error: "not a policy field".into(),
            });
        }
    }
    match PolicySet::new(view.policies.iter().cloned()) {
        Ok(set) => view.digest = Some(set.digest()),
        Err(e) => view.invalid.push(InvalidField {
            field: "*".into(),
            error: e.to_string(),
        }),
    }
    view
}

fn registry_view(hash: HashMap<String, String>, now_ms: u64) -> Vec<NodeEntry> {
    let mut entries: Vec<NodeEntry> = hash
        .into_values()
        .filter_map(|json| serde_json::from_str::<NodeRecord>(&json).ok())
        .map(|r| NodeEntry::from_record(r, now_ms))
        .collect();
    entries.sort_by(|a, b| a.id.cmp(&b.id));
    entries
}
