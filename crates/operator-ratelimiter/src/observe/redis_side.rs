//! The Redis half of an observation: PING, INFO, TIME, the policies, the node registry, and a
//! bounded step of the key scan.

use std::collections::HashMap;

use ratelimiter_schema::keys::{self, POLICY_FIELD_PREFIX, POLICY_VERSION_FIELD};
use ratelimiter_schema::{NodeEntry, NodeRecord, Policy, PolicySet};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::clock::RedisClock;
use super::scan::ScanState;
use crate::config::{RateLimiterConfig, redact_url};
use crate::info::RedisInfo;
use crate::observation::{InvalidField, PolicyView, RedisView};
use crate::observe::cluster::{self, ClusterMemory};
use crate::redis_handle::RedisHandle;

/// What one pipeline reads after PING: `INFO`, `TIME`, the policies and registry hashes,
/// `DBSIZE`.
type Reads = (
    String,
    (u64, u64),
    HashMap<String, String>,
    HashMap<String, String>,
    u64,
);

/// Observes Redis, then takes a step of the key scan kept in `scan`. Never fails: what could
/// not be read is `None`, with the error.
pub(crate) async fn observe(
    redis: &RedisHandle,
    scan: &Mutex<ScanState>,
    config: &RateLimiterConfig,
) -> (RedisView, Option<RedisClock>) {
    let mut view = RedisView {
        url: redact_url(&config.redis_url),
        ..Default::default()
    };
    let started = Instant::now();
    let ping = redis
        .run(redis.timeout(), |mut c| async move {
            redis::cmd("PING").query_async::<String>(&mut c).await
        })
        .await;
    match ping {
        Ok(_) => {
            view.reachable = true;
            view.ping_us = Some(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX));
        }
        Err(e) => {
            view.error = Some(e.to_string());
            view.error_kind = Some(e.kind());
            return (view, None);
        }
    }

    let prefix = config.key_prefix.clone();
    let sent = Instant::now();
    let reads = redis
        .run(redis.timeout() * 2, |mut c| async move {
            redis::pipe()
                .cmd("INFO")
                .cmd("TIME")
                .cmd("HGETALL")
                .arg(keys::policies_key(&prefix))
                .cmd("HGETALL")
                .arg(keys::nodes_key(&prefix))
                .cmd("DBSIZE")
                .query_async::<Reads>(&mut c)
                .await
        })
        .await;
    let (info, (secs, micros), policies, registry, dbsize) = match reads {
        Ok(r) => r,
        Err(e) => {
            view.error = Some(format!("reads after PING failed: {e}"));
            view.error_kind = Some(e.kind());
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
    let mut scan = scan.lock().await;
    scan.restart_if_new_server(&info.run_id);
    match scan.step(redis, config, &limits, time_ms).await {
        Ok(mut keys) => {
            keys.dbsize = Some(dbsize);
            view.keys = Some(keys);
        }
        Err(e) => {
            view.error = Some(format!("key scan failed: {e}"));
            view.error_kind = Some(e.kind());
        }
    }
    view.info = Some(info);
    (view, Some(clock))
}

/// Observes a Redis Cluster: the policies and the registry through the cluster connection
/// (`cluster`, routed by key), then every instance and a step of the scan of every primary
/// (`observe::cluster`). Never fails, like [`observe`].
pub(crate) async fn observe_on_cluster(
    cluster: &RedisHandle,
    memory: &Mutex<ClusterMemory>,
    config: &RateLimiterConfig,
) -> (RedisView, Option<RedisClock>) {
    let mut view = RedisView {
        url: config.redis_url_redacted(),
        ..Default::default()
    };
    let started = Instant::now();
    let hgetall = |key: String| {
        cluster.run(cluster.timeout() * 2, move |mut c| async move {
            redis::cmd("HGETALL")
                .arg(key)
                .query_async::<HashMap<String, String>>(&mut c)
                .await
        })
    };
    let prefix = &config.key_prefix;
    let shared = tokio::try_join!(
        hgetall(keys::policies_key(prefix)),
        hgetall(keys::nodes_key(prefix))
    );
    let mut registry = None;
    match shared {
        Ok((policies, nodes)) => {
            view.reachable = true;
            view.ping_us = Some(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX));
            view.policies = Some(policy_view(&policies));
            registry = Some(nodes);
        }
        Err(e) => {
            view.error = Some(format!("the policies and the node registry: {e}"));
            view.error_kind = Some(e.kind());
        }
    }
    let limits = view
        .policies
        .as_ref()
        .map(|p| p.policies.clone())
        .unwrap_or_default();
    let (cluster_view, scan, clock) = cluster::observe(memory, config, &limits).await;
    view.time_ms = clock.map(|c| c.time_ms);
    if let (Some(r), Some(now)) = (registry, view.time_ms) {
        view.registry = Some(registry_view(r, now));
    }
    match scan {
        Ok(keys) => view.keys = Some(keys),
        Err(e) if view.error.is_none() => {
            view.error = Some(format!("key scan failed: {e}"));
            view.error_kind = Some(e.kind());
        }
        Err(_) => {}
    }
    view.cluster = Some(cluster_view);
    (view, clock)
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
