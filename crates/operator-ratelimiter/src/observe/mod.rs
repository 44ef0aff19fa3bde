//! The gatherers of an [`Observation`](crate::Observation): the Redis side (`redis_side`, with
//! a bounded step of the key scan in `scan`), each node (`nodes`), and Redis `TIME` to compare
//! the nodes' clocks with (`clock`); on a Redis Cluster, every instance and the scan of every
//! primary (`cluster`).
//!
//! Each gatherer is bounded by its own timeout and never fails: a source that fails is reported
//! in its part of the observation (`reachable: false` and the error). The subject runs them
//! concurrently and joins their parts; they know nothing of it.

mod clock;
mod cluster;
mod nodes;
mod redis_side;
mod scan;
mod sentinel;

pub(crate) use clock::RedisClock;
pub(crate) use cluster::ClusterMemory;
pub(crate) use nodes::observe as observe_node;
pub(crate) use redis_side::observe as observe_redis;
pub(crate) use redis_side::observe_on_cluster;
pub(crate) use scan::ScanState;
pub(crate) use sentinel::{SentinelMemory, observe as observe_sentinels};
