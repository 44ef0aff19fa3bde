//! Hand-written observations for the table tests of the invariants and of the diagnosis rules:
//! a healthy stack of one Redis and three nodes, the same on a 3+3 Redis Cluster, and a history
//! of observations.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use operator_core::History;
use ratelimiter_schema::{FailureDecisions, FailureMode, NodeInfo, Policy, PolicySpec, Window};

use crate::histogram::Histogram;
use crate::info::RedisInfo;
use crate::observation::{KeyScan, NodeView, Observation, PolicyView, RedisView};
use crate::topology::{ClusterView, InstanceView, Role, SlotRange};

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
            redis_mode: Default::default(),
            shards: Vec::new(),
            limiter_mode: Default::default(),
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
                            algorithm: Default::default(),
                            pattern: None,
                            windows: vec![Window::new(100, 1000)],
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
            sentinel: None,
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

/// An instance of [`on_cluster`] on 127.0.0.1:`port`, answering, 400 keys.
pub(crate) fn instance(
    port: u16,
    role: Role,
    primary: Option<u16>,
    slots: &[(u16, u16)],
) -> InstanceView {
    InstanceView {
        addr: format!("127.0.0.1:{port}"),
        id: format!("id{port}"),
        role,
        primary_id: primary.map(|p| format!("id{p}")),
        failed: false,
        suspected: false,
        slots: slots
            .iter()
            .map(|&(start, end)| SlotRange { start, end })
            .collect(),
        reachable: true,
        error: None,
        error_kind: None,
        ping_us: Some(200),
        info: Some(RedisInfo {
            run_id: format!("run{port}"),
            role: if role == Role::Primary {
                "master"
            } else {
                "slave"
            }
            .into(),
            ..Default::default()
        }),
        keys: Some(400),
        clock_offset_ms: Some(3),
    }
}

/// A healthy 3+3 cluster: primaries 7000-7002, replicas 7003-7005.
pub(crate) fn on_cluster(t: i64) -> Observation {
    let mut o = healthy(t);
    o.redis.info = None;
    let slots = [(0, 5460), (5461, 10922), (10923, 16383)];
    let mut instances: Vec<InstanceView> = (0..3)
        .map(|i| instance(7000 + i, Role::Primary, None, &[slots[usize::from(i)]]))
        .collect();
    instances.extend((0..3).map(|i| instance(7003 + i, Role::Replica, Some(7000 + i), &[])));
    o.redis.cluster = Some(ClusterView {
        seen_from: Some("127.0.0.1:7000".into()),
        state: Some("ok".into()),
        slots_assigned: Some(16384),
        slots_fail: Some(0),
        instances,
        ..Default::default()
    });
    o
}
