//! Each subject's entities as the dashboard's table, from its observations (taken as JSON, the
//! form every subject's observation has, and read back into the subject's own type).
//!
//! - `ratelimit`: Redis (or each shard, when the observation lists shards), then each node with
//!   its state, decisions per second and failure-mode decisions since the previous observation,
//!   and its decision p99 over that interval.
//! - `tikv`: each PD member, then each store with its state, leaders, regions, QPS and p99.

use operator_ratelimiter::Observation as RateLimitObservation;
use operator_ratelimiter::observation::NodeView;
use operator_tikv::TikvObservation;
use serde_json::Value;

use crate::dashboard::model::{Entities, EntityRow};

/// The entities of `subject` in `latest`, with rates over the `seconds` since `previous`.
pub fn entities_of(subject: &str, latest: &Value, previous: Option<(&Value, f64)>) -> Entities {
    match subject {
        "ratelimit" => ratelimit(latest, previous),
        "tikv" => tikv(latest),
        _ => Entities::default(),
    }
}

fn ratelimit(latest: &Value, previous: Option<(&Value, f64)>) -> Entities {
    let Ok(now) = serde_json::from_value::<RateLimitObservation>(latest.clone()) else {
        return Entities::default();
    };
    let before = previous.and_then(|(v, secs)| {
        serde_json::from_value::<RateLimitObservation>(v.clone())
            .ok()
            .map(|o| (o, secs))
    });
    let headers = ["decisions/s", "failure-mode/s", "p99", "detail"];
    let mut rows = Vec::new();
    match latest["redis"]["shards"].as_array() {
        Some(shards) => {
            for (i, shard) in shards.iter().enumerate() {
                let name = shard["url"]
                    .as_str()
                    .or(shard["addr"].as_str())
                    .map_or_else(|| format!("shard {i}"), host_port);
                let ok = shard["reachable"].as_bool().unwrap_or(false);
                rows.push(redis_row(
                    format!("redis shard {name}"),
                    ok,
                    shard["error"].as_str(),
                    shard["ping_us"].as_u64(),
                ));
            }
        }
        None => {
            let r = &now.redis;
            rows.push(redis_row(
                format!("redis {}", host_port(&r.url)),
                r.reachable,
                r.error.as_deref(),
                r.ping_us,
            ));
        }
    }
    for node in &now.nodes {
        let prev = before.as_ref().and_then(|(o, secs)| {
            o.nodes
                .iter()
                .find(|n| n.addr == node.addr)
                .map(|n| (n, *secs))
        });
        rows.push(node_row(node, prev));
    }
    Entities {
        headers: headers.map(str::to_owned).to_vec(),
        rows,
    }
}

fn redis_row(name: String, ok: bool, error: Option<&str>, ping_us: Option<u64>) -> EntityRow {
    let state = if ok {
        "up".to_owned()
    } else {
        format!("down: {}", error.unwrap_or("unreachable"))
    };
    let detail = ping_us
        .map(|p| format!("ping {:.1}ms", p as f64 / 1000.0))
        .unwrap_or_default();
    EntityRow {
        name,
        state,
        healthy: ok,
        cells: vec![String::new(), String::new(), String::new(), detail],
    }
}

fn node_row(node: &NodeView, prev: Option<(&NodeView, f64)>) -> EntityRow {
    let (state, healthy) = if !node.reachable {
        (
            format!("down: {}", node.error.as_deref().unwrap_or("unreachable")),
            false,
        )
    } else if node.ready == Some(false) {
        (
            format!("not ready: {}", node.ready_reason.as_deref().unwrap_or(""))
                .trim_end_matches(": ")
                .to_owned(),
            false,
        )
    } else {
        ("ready".to_owned(), true)
    };
    let failure = |n: &NodeView| {
        n.info.as_ref().map(|i| {
            let f = i.failure_decisions;
            f.open + f.closed + f.local
        })
    };
    let decisions = |n: &NodeView| n.info.as_ref().map(|i| i.decisions);
    let rate = |now: Option<u64>, before: Option<u64>, secs: f64| match (now, before) {
        (Some(n), Some(b)) if secs > 0.0 && n >= b => format!("{:.0}", (n - b) as f64 / secs),
        _ => "-".to_owned(),
    };
    let (dps, fps, p99) = match prev {
        Some((p, secs)) => {
            let recent = match (&node.latency, &p.latency) {
                (Some(now), Some(before)) => now.since(before),
                _ => None,
            };
            (
                rate(decisions(node), decisions(p), secs),
                rate(failure(node), failure(p), secs),
                recent.and_then(|h| h.quantile(0.99)),
            )
        }
        None => (
            "-".to_owned(),
            "-".to_owned(),
            node.latency.as_ref().and_then(|h| h.quantile(0.99)),
        ),
    };
    let detail = node
        .info
        .as_ref()
        .map(|i| {
            format!(
                "{} mode, {} failure-mode in all",
                i.failure_mode.as_str(),
                failure(node).unwrap_or(0)
            )
        })
        .unwrap_or_default();
    EntityRow {
        name: format!("node {}", node.label()),
        state,
        healthy,
        cells: vec![dps, fps, p99.map_or_else(|| "-".to_owned(), ms), detail],
    }
}

fn tikv(latest: &Value) -> Entities {
    let Ok(o) = serde_json::from_value::<TikvObservation>(latest.clone()) else {
        return Entities::default();
    };
    let mut rows = Vec::new();
    for m in &o.pd.members {
        let healthy = m.healthy.unwrap_or(true);
        let state = match (m.is_leader, m.healthy) {
            (_, Some(false)) => "unhealthy",
            (true, _) => "leader",
            _ => "follower",
        };
        rows.push(EntityRow {
            name: format!("pd {}", m.name),
            state: state.to_owned(),
            healthy,
            cells: vec![String::new(), String::new(), String::new(), String::new()],
        });
    }
    for s in &o.stores {
        rows.push(EntityRow {
            name: format!("store {} ({})", s.id, s.address),
            state: s.state.to_string(),
            healthy: s.state == operator_tikv::StoreState::Up,
            cells: vec![
                s.leader_count.to_string(),
                s.region_count.to_string(),
                s.qps.map_or_else(|| "-".to_owned(), |q| format!("{q:.0}")),
                s.grpc_p99_seconds.map_or_else(|| "-".to_owned(), ms),
            ],
        });
    }
    Entities {
        headers: ["leaders", "regions", "qps", "p99"]
            .map(str::to_owned)
            .to_vec(),
        rows,
    }
}

/// Seconds as milliseconds for a column.
fn ms(secs: f64) -> String {
    format!("{:.1}ms", secs * 1000.0)
}

/// `host:port` of a URL: never its credentials (a Redis URL may hold a password).
fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    rest.split(['/', '?']).next().unwrap_or(rest).to_owned()
}

#[cfg(test)]
mod tests {
    use super::host_port;

    #[test]
    fn urls_lose_their_credentials() {
        assert_eq!(
            host_port("redis://:s3cret@10.0.0.1:6379/0"),
            "10.0.0.1:6379"
        );
        assert_eq!(host_port("redis://127.0.0.1:6379"), "127.0.0.1:6379");
        assert_eq!(host_port("rediss://u:p@h:1?x=1"), "h:1");
    }
}
