//! The sentinel half of an observation (`--redis-mode sentinel`): every sentinel asked for the
//! current primary of the set, its quorum and its replicas; a change of primary since the last
//! observation is a failover. The primary itself is observed as one Redis (`redis_side`),
//! through the handle the sentinels resolve.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Utc;
use tokio::sync::Mutex;

use crate::config::{RateLimiterConfig, redact_url};
use crate::redis_handle::RedisHandle;
use crate::topology::{Failover, SentinelPeer, SentinelView};

/// What the sentinel observation keeps between observations.
#[derive(Default)]
pub(crate) struct SentinelMemory {
    handles: HashMap<String, Arc<RedisHandle>>,
    last_primary: Option<String>,
    failovers: Vec<Failover>,
}

/// What one sentinel says: the primary, `SENTINEL master` as pairs, the replicas' flags.
type Said = (Option<(String, String)>, Vec<String>, Vec<Vec<String>>);

/// Asks every sentinel. Never fails: a sentinel that does not answer is listed as such.
pub(crate) async fn observe(
    memory: &Mutex<SentinelMemory>,
    config: &RateLimiterConfig,
) -> SentinelView {
    let mut memory = memory.lock().await;
    let master = config.sentinel_master.clone().unwrap_or_default();
    let mut view = SentinelView {
        master: master.clone(),
        ..Default::default()
    };
    for url in config.redis_urls() {
        let handle = match memory.handles.get(url) {
            Some(h) => Arc::clone(h),
            None => match RedisHandle::new(url, config.redis_timeout) {
                Ok(h) => {
                    let h = Arc::new(h);
                    memory.handles.insert(url.to_owned(), Arc::clone(&h));
                    h
                }
                Err(_) => continue,
            },
        };
        let m = master.clone();
        let said = handle
            .run(handle.timeout() * 2, move |mut c| async move {
                redis::pipe()
                    .cmd("SENTINEL")
                    .arg("get-master-addr-by-name")
                    .arg(&m)
                    .cmd("SENTINEL")
                    .arg("master")
                    .arg(&m)
                    .cmd("SENTINEL")
                    .arg("replicas")
                    .arg(&m)
                    .query_async::<Said>(&mut c)
                    .await
            })
            .await;
        let mut peer = SentinelPeer {
            url: redact_url(url),
            reachable: false,
            primary: None,
            error: None,
        };
        match said {
            Ok((addr, master_fields, replicas)) => {
                peer.reachable = true;
                peer.primary = addr.map(|(h, p)| format!("{h}:{p}"));
                let fields: HashMap<&str, &str> = master_fields
                    .chunks(2)
                    .filter_map(|kv| Some((kv.first()?.as_str(), kv.get(1)?.as_str())))
                    .collect();
                if view.quorum.is_none() {
                    view.quorum = fields.get("quorum").and_then(|q| q.parse().ok());
                }
                if view.replicas_live.is_none() {
                    let live = replicas
                        .iter()
                        .filter(|r| {
                            let f: HashMap<&str, &str> = r
                                .chunks(2)
                                .filter_map(|kv| Some((kv.first()?.as_str(), kv.get(1)?.as_str())))
                                .collect();
                            f.get("flags").is_some_and(|fl| {
                                !fl.contains("s_down")
                                    && !fl.contains("o_down")
                                    && !fl.contains("disconnected")
                            })
                        })
                        .count();
                    view.replicas_live = Some(live as u64);
                }
            }
            Err(e) => peer.error = Some(e.to_string()),
        }
        view.sentinels.push(peer);
    }
    // The primary most reachable sentinels name.
    let mut votes: HashMap<&str, usize> = HashMap::new();
    for p in view.sentinels.iter().filter_map(|s| s.primary.as_deref()) {
        *votes.entry(p).or_default() += 1;
    }
    view.primary = votes
        .into_iter()
        .max_by_key(|(p, n)| (*n, std::cmp::Reverse(*p)))
        .map(|(p, _)| p.to_owned());
    let now = Utc::now();
    if let (Some(old), Some(new)) = (memory.last_primary.clone(), view.primary.clone())
        && old != new
    {
        memory.failovers.push(Failover {
            slots: Vec::new(),
            old_primary: old,
            new_primary: new,
            at: now,
        });
    }
    if view.primary.is_some() {
        memory.last_primary = view.primary.clone();
    }
    let keep = chrono::Duration::from_std(config.failover_memory).unwrap_or_default();
    memory.failovers.retain(|f| now - f.at < keep);
    view.failovers = memory.failovers.clone();
    view
}
