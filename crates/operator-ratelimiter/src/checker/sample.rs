//! Hand-written observations for the table tests of the invariants and of the diagnosis rules:
//! a healthy stack of one Redis and three nodes, and a history of observations.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use operator_core::History;
use ratelimiter_schema::{FailureDecisions, FailureMode, NodeInfo, Policy, PolicySpec, Window};

use crate::histogram::Histogram;
use crate::info::RedisInfo;
use crate::observation::{KeyScan, NodeView, Observation, PolicyView, RedisView};

/// `ms` milliseconds after a fixed instant (Redis `TIME` of [`healthy`]).
pub(crate) fn at(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_800_000_000_000 + ms).unwrap()
}

/// A healthy node on 127.0.0.1:`port`, id `n<port>`, serving policy version 3.
pub(crate) fn node(port: u16) -> NodeView {
    let addr = format!("127.0.0.1:{port}");
    NodeView {
        url: format!("http://{addr}"),
        addr,
        reachable: true,
        ready: Some(true),
        info: Some(NodeInfo {
            node_id: format!("n{port}"),
            version: "0.1.0".into(),
            uptime_ms: 10_000,
            decisions: 100,
            allowed: 90,
            denied: 10,
            near_limit: 0,
            failure_decisions: FailureDecisions::default(),
            policy_version: 3,
            policy_digest: "d3".into(),
            policies_loaded: 1,
            policies_from_redis: true,
            redis_rtt_us: Some(200),
            redis_ok: true,
            redis_errors: 0,
            redis_timeouts: 0,
            redis_skipped: 0,
            policy_reloads: 1,
            up_nodes: 3,
            now_ms: 1_800_000_000_000,
            key_prefix: "ratelimit:".into(),
            failure_mode: FailureMode::Local,
            identifier_secret_digest: None,
            clock_skew_ms: None,
            abuse: Default::default(),
        }),
        latency: Some(Histogram {
            bounds: vec![0.001, 0.01, 0.1],
            counts: vec![100, 100, 100, 100],
        }),
        clock_skew_ms: Some(3),
        ..Default::default()
    }
}

/// A healthy stack observed at `at(t)`: Redis r1 with one policy (version 3), three nodes.
pub(crate) fn healthy(t: i64) -> Observation {
    Observation {
        observed_at: at(t),
        key_prefix: "ratelimit:".into(),
        redis: RedisView {
            url: "redis://127.0.0.1:6379".into(),
            reachable: true,
            ping_us: Some(300),
            info: Some(RedisInfo {
                run_id: "r1".into(),
                role: "master".into(),
                rdb_last_save_ok: true,
                ..Default::default()
            }),
            time_ms: Some(1_800_000_000_000),
            policies: Some(PolicyView {
                present: true,
                version: Some(3),
                digest: Some("d3".into()),
                policies: vec![
                    Policy::new(
                        "default",
                        PolicySpec {
                            pattern: None,
                            windows: vec![Window {
                                limit: 100,
                                window_ms: 1000,
                            }],
                        },
                    )
                    .unwrap(),
                ],
                invalid: vec![],
            }),
            registry: Some(vec![]),
            keys: Some(KeyScan {
                scanned: 10,
                ..Default::default()
            }),
            error: None,
            error_kind: None,
            cluster: None,
        },
        nodes: vec![node(8001), node(8002), node(8003)],
    }
}

/// A history holding `obs`, oldest first.
pub(crate) fn history(obs: Vec<Observation>) -> History<Observation> {
    let mut h = History::new(100);
    for o in obs {
        h.push(o.observed_at, tokio::time::Instant::now(), Arc::new(o));
    }
    h
}
