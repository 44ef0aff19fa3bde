//! The cluster half of an observation (`--redis-mode cluster`): the topology from `CLUSTER
//! NODES` and `CLUSTER INFO` of the first instance that answers, then every instance on its own
//! (PING, `INFO`, `TIME`, `DBSIZE`) concurrently, then a step of the key scan on every live
//! primary, the budget shared between them. What is kept between observations (one handle and
//! one scan per instance, the last topology, recent failovers) is a [`ClusterMemory`].

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Utc;
use ratelimiter_schema::Policy;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::clock::RedisClock;
use super::scan::ScanState;
use crate::config::RateLimiterConfig;
use crate::error::{Error, Result};
use crate::info::RedisInfo;
use crate::observation::KeyScan;
use crate::redis_handle::RedisHandle;
use crate::topology::{self, ClusterView, Failover, InstanceView, Role};

/// Most stuck keys listed in one observation, all shards together.
const MAX_LISTED: usize = 20;

/// What the cluster observation keeps between observations.
#[derive(Default)]
pub(crate) struct ClusterMemory {
    handles: HashMap<String, Arc<RedisHandle>>,
    scans: HashMap<String, ScanState>,
    last: Vec<InstanceView>,
    failovers: Vec<Failover>,
}

impl ClusterMemory {
    /// The handle on the instance at `addr` (`host:port`), made from the first seed URL (its
    /// scheme, credentials and database kept).
    fn handle(&mut self, addr: &str, config: &RateLimiterConfig) -> Result<Arc<RedisHandle>> {
        if let Some(h) = self.handles.get(addr) {
            return Ok(Arc::clone(h));
        }
        let url = instance_url(
            config.redis_urls().first().copied().unwrap_or_default(),
            addr,
        )?;
        let h = Arc::new(RedisHandle::new(&url, config.redis_timeout)?);
        self.handles.insert(addr.to_owned(), Arc::clone(&h));
        Ok(h)
    }
}

impl ClusterMemory {
    /// The primaries serving slots at the last observation, each with its handle.
    pub(crate) fn primaries(&self) -> Vec<(String, Arc<RedisHandle>)> {
        self.last
            .iter()
            .filter(|i| i.role == Role::Primary && !i.slots.is_empty())
            .filter_map(|i| Some((i.addr.clone(), self.handles.get(&i.addr)?.clone())))
            .collect()
    }
}

/// `seed` with its host and port replaced by `addr`'s.
fn instance_url(seed: &str, addr: &str) -> Result<String> {
    let bad = |what: &str| Error::Config(format!("cluster instance {addr:?}: {what}"));
    let (host, port) = addr.rsplit_once(':').ok_or_else(|| bad("no port"))?;
    let port: u16 = port.parse().map_err(|_| bad("bad port"))?;
    let mut url = reqwest::Url::parse(seed).map_err(|_| bad("seed URL does not parse"))?;
    url.set_host(Some(host.trim_matches(['[', ']'])))
        .map_err(|_| bad("bad host"))?;
    url.set_port(Some(port)).map_err(|()| bad("bad port"))?;
    Ok(url.to_string())
}

/// Observes the cluster, then scans every live primary. Never fails: what could not be read is
/// `None` or says why. The clock is the `TIME` of the first primary that answered.
pub(crate) async fn observe(
    memory: &Mutex<ClusterMemory>,
    config: &RateLimiterConfig,
    policies: &[Policy],
) -> (ClusterView, Result<KeyScan>, Option<RedisClock>) {
    let mut memory = memory.lock().await;
    let mut view = ClusterView::default();
    let Some((from, nodes, info)) = read_topology(&mut memory, config).await else {
        view.error = Some("no instance of the cluster answered CLUSTER NODES".into());
        let scan = Err(Error::Cluster("the topology is unknown".into()));
        return (view, scan, None);
    };
    view.seen_from = Some(from);
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.trim_end().strip_prefix(name)?.strip_prefix(':'))
            .map(str::to_owned)
    };
    view.state = field("cluster_state");
    view.slots_assigned = field("cluster_slots_assigned").and_then(|v| v.parse().ok());
    view.slots_fail = field("cluster_slots_fail").and_then(|v| v.parse().ok());

    let mut instances = nodes;
    let mut handles = Vec::new();
    for i in &instances {
        handles.push(memory.handle(&i.addr, config));
    }
    let probes = instances
        .iter_mut()
        .zip(handles.iter())
        .map(|(view, handle)| probe(view, handle));
    let clocks = futures::future::join_all(probes).await;
    let clock = instances
        .iter()
        .zip(clocks)
        .find_map(|(i, c)| (i.role == Role::Primary).then_some(c).flatten());
    view.uncovered = topology::uncovered(&instances);

    let now = Utc::now();
    let found = topology::failovers(&memory.last, &instances, now);
    memory.failovers.extend(found);
    let keep = chrono::Duration::from_std(config.failover_memory).unwrap_or_default();
    memory.failovers.retain(|f| now - f.at < keep);
    view.failovers = memory.failovers.clone();

    let scan = scan_primaries(&mut memory, &instances, config, policies).await;
    memory.last = instances.clone();
    view.instances = instances;
    (view, scan, clock)
}

/// `CLUSTER NODES` and `CLUSTER INFO` of the first instance that answers: the instances known
/// from the last observation (primaries first), then the seeds.
async fn read_topology(
    memory: &mut ClusterMemory,
    config: &RateLimiterConfig,
) -> Option<(String, Vec<InstanceView>, String)> {
    let mut candidates: Vec<String> = memory
        .last
        .iter()
        .filter(|i| !i.failed)
        .map(|i| i.addr.clone())
        .collect();
    for seed in config.redis_urls() {
        if let Ok(u) = reqwest::Url::parse(seed)
            && let (Some(h), Some(p)) = (u.host_str(), u.port())
        {
            candidates.push(format!("{h}:{p}"));
        }
    }
    for addr in candidates {
        let Ok(handle) = memory.handle(&addr, config) else {
            continue;
        };
        let read = handle
            .run(handle.timeout(), |mut c| async move {
                redis::pipe()
                    .cmd("CLUSTER")
                    .arg("NODES")
                    .cmd("CLUSTER")
                    .arg("INFO")
                    .query_async::<(String, String)>(&mut c)
                    .await
            })
            .await;
        if let Ok((nodes, info)) = read {
            let nodes = topology::parse_cluster_nodes(&nodes);
            if !nodes.is_empty() {
                return Some((addr, nodes, info));
            }
        }
    }
    None
}

/// PING, then `INFO`, `TIME` and `DBSIZE` of one instance, written into `view`; its clock.
async fn probe(view: &mut InstanceView, handle: &Result<Arc<RedisHandle>>) -> Option<RedisClock> {
    let handle = match handle {
        Ok(h) => h,
        Err(e) => {
            view.error = Some(e.to_string());
            return None;
        }
    };
    let started = Instant::now();
    let ping = handle
        .run(handle.timeout(), |mut c| async move {
            redis::cmd("PING").query_async::<String>(&mut c).await
        })
        .await;
    if let Err(e) = ping {
        view.error = Some(e.to_string());
        view.error_kind = Some(e.kind());
        return None;
    }
    view.reachable = true;
    view.ping_us = Some(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX));
    let sent = Instant::now();
    let reads = handle
        .run(handle.timeout() * 2, |mut c| async move {
            redis::pipe()
                .cmd("INFO")
                .cmd("TIME")
                .cmd("DBSIZE")
                .query_async::<(String, (u64, u64), u64)>(&mut c)
                .await
        })
        .await;
    let wall_ms = Utc::now().timestamp_millis();
    match reads {
        Ok((info, (secs, micros), dbsize)) => {
            let half = sent.elapsed() / 2;
            let time_ms = secs * 1000 + micros / 1000;
            let at = sent + half;
            let monitor_then = wall_ms - i64::try_from(half.as_millis()).unwrap_or(0);
            view.clock_offset_ms = Some(i64::try_from(time_ms).unwrap_or(i64::MAX) - monitor_then);
            view.info = Some(RedisInfo::parse(&info));
            view.keys = Some(dbsize);
            Some(RedisClock { time_ms, at })
        }
        Err(e) => {
            view.error = Some(format!("reads after PING failed: {e}"));
            view.error_kind = Some(e.kind());
            None
        }
    }
}

/// A step of the key scan on every primary serving slots, each within its share of the budget,
/// joined into one [`KeyScan`]. A primary serving slots that cannot be scanned makes the whole
/// scan unknown (its keys were not read).
async fn scan_primaries(
    memory: &mut ClusterMemory,
    instances: &[InstanceView],
    config: &RateLimiterConfig,
    policies: &[Policy],
) -> Result<KeyScan> {
    let primaries: Vec<&InstanceView> = instances
        .iter()
        .filter(|i| i.role == Role::Primary && !i.slots.is_empty())
        .collect();
    let mut share = config.clone();
    share.scan_budget = (config.scan_budget / primaries.len().max(1)).max(1);
    let mut all = KeyScan {
        cursor: 0,
        passes: u64::MAX,
        dbsize: Some(0),
        ..Default::default()
    };
    let mut stuck = Vec::new();
    for p in primaries {
        let Some(info) = p.info.as_ref().filter(|_| p.live()) else {
            return Err(Error::Cluster(format!(
                "primary {} cannot be scanned: {}",
                p.addr,
                p.error.as_deref().unwrap_or("marked failed")
            )));
        };
        let handle = memory.handle(&p.addr, config)?;
        let time_ms = p.clock_offset_ms.map_or(0, |o| {
            u64::try_from(Utc::now().timestamp_millis() + o).unwrap_or(0)
        });
        let scan = memory.scans.entry(p.addr.clone()).or_default();
        scan.restart_if_new_server(&info.run_id);
        let keys = scan.step(&handle, &share, policies, time_ms).await?;
        all.scanned += keys.scanned;
        all.examined += keys.examined;
        all.cursor = all.cursor.max(keys.cursor);
        all.passes = all.passes.min(keys.passes);
        all.dbsize = Some(all.dbsize.unwrap_or(0) + p.keys.unwrap_or(0));
        all.stuck_total += keys.stuck_total;
        stuck.extend(keys.stuck);
        all.over_admitted.extend(keys.over_admitted);
    }
    if all.passes == u64::MAX {
        all.passes = 0;
    }
    stuck.sort();
    stuck.truncate(MAX_LISTED);
    all.stuck = stuck;
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_urls_keep_the_seeds_scheme_and_credentials() {
        assert_eq!(
            instance_url("redis://:pw@127.0.0.1:7000/0", "10.0.0.5:7003").unwrap(),
            "redis://:pw@10.0.0.5:7003/0"
        );
        assert_eq!(
            instance_url("rediss://h:7000", "127.0.0.1:7001").unwrap(),
            "rediss://127.0.0.1:7001"
        );
        assert!(instance_url("redis://h:7000", "nowhere").is_err());
    }
}
