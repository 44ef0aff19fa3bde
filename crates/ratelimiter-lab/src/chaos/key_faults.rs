//! Faults on the key space: keys without a TTL (on one Redis, or across a cluster's shards).

use std::collections::BTreeSet;
use std::time::Duration;

use ratelimiter_schema::keys;

use super::fault::Fault;
use super::report::{Check, FaultReport, command};
use super::verify;
use crate::environment::Environment;
use crate::error::Result;
use crate::probe::RedisProbe;

/// What follows the prefix in the keys `stuck-keys` writes: `<prefix>chaos:stuck:<i>`.
pub const STUCK_KEY_INFIX: &str = "chaos:stuck:";

pub(super) async fn stuck(env: &dyn Environment, fault: &Fault, n: u64) -> Result<FaultReport> {
    let prefix = env.endpoints().key_prefix;
    let mut r = FaultReport::new(
        fault,
        "inject",
        format!(
            "not undone by itself: the monitor's repair_stuck_keys action gives them a TTL, and \
             `{} undo stuck-keys` deletes them",
            command(env)
        ),
    );
    let names: Vec<String> = (1..=n)
        .map(|i| format!("{prefix}{STUCK_KEY_INFIX}{i}"))
        .collect();
    if env.endpoints().redis_is_cluster() {
        return stuck_on_cluster(env, r, &names).await;
    }
    let redis = verify::redis(env)?;
    let mut pipe = redis::pipe();
    for k in &names {
        pipe.cmd("SET")
            .arg(k)
            .arg("written by operator chaos")
            .ignore();
    }
    redis.pipe::<()>(&pipe).await?;
    r.effective_now();
    r.did.push(format!(
        "wrote {n} keys without TTL: {}{}",
        names.iter().take(3).cloned().collect::<Vec<_>>().join(", "),
        if n > 3 { ", ..." } else { "" }
    ));
    let mut pipe = redis::pipe();
    for k in &names {
        pipe.cmd("PTTL").arg(k);
    }
    let ttls: Vec<i64> = redis.pipe(&pipe).await?;
    let without = ttls.iter().filter(|t| **t == -1).count();
    r.checks.push(Check::new(
        "the keys have no TTL",
        without == names.len(),
        format!("{without} of {} keys have PTTL -1", names.len()),
    ));
    Ok(r)
}

/// `stuck-keys` on a Redis Cluster: each key written to its slot's primary, one command each
/// (they span the shards, so no pipeline).
async fn stuck_on_cluster(
    env: &dyn Environment,
    mut r: FaultReport,
    names: &[String],
) -> Result<FaultReport> {
    let cluster = RedisProbe::cluster(&env.endpoints().redis_url, Duration::from_secs(2))?;
    for (i, k) in names.iter().enumerate() {
        cluster
            .query::<()>(redis::cmd("SET").arg(k).arg("written by operator chaos"))
            .await?;
        // One command per key (a fresh connection each): the fault is in effect from the
        // first key, which a monitor tick may already see while the others are written.
        if i == 0 {
            r.effective_now();
        }
    }
    r.did.push(format!(
        "wrote {} keys without TTL across the cluster's shards: {}{}",
        names.len(),
        names.iter().take(3).cloned().collect::<Vec<_>>().join(", "),
        if names.len() > 3 { ", ..." } else { "" }
    ));
    let mut without = 0;
    for k in names {
        if cluster.query::<i64>(redis::cmd("PTTL").arg(k)).await? == -1 {
            without += 1;
        }
    }
    r.checks.push(Check::new(
        "the keys have no TTL",
        without == names.len(),
        format!("{without} of {} keys have PTTL -1", names.len()),
    ));
    Ok(r)
}

/// Every key matching `pattern` on any member of the cluster (a replica's copies included).
async fn scan_cluster(env: &dyn Environment, pattern: &str) -> Result<BTreeSet<String>> {
    let mut found = BTreeSet::new();
    for url in env.endpoints().redis_url.split(',') {
        let member = RedisProbe::new(url, Duration::from_millis(500))?;
        if let Ok(keys) = member.scan(pattern).await {
            found.extend(keys);
        }
    }
    Ok(found)
}

/// The undo of `stuck-keys` on a Redis Cluster: each key found deleted on its slot's primary.
async fn undo_on_cluster(
    env: &dyn Environment,
    mut r: FaultReport,
    pattern: &str,
) -> Result<FaultReport> {
    let cluster = RedisProbe::cluster(&env.endpoints().redis_url, Duration::from_secs(2))?;
    let mut deleted = 0u64;
    for k in scan_cluster(env, pattern).await? {
        deleted += cluster.query::<u64>(redis::cmd("DEL").arg(&k)).await?;
    }
    r.effective_now();
    r.did.push(format!(
        "deleted {deleted} keys matching {pattern} across the shards"
    ));
    let left = scan_cluster(env, pattern).await?.len();
    r.checks.push(Check::new(
        "no chaos key is left",
        left == 0,
        format!("{left} keys match {pattern}"),
    ));
    Ok(r)
}

pub(super) async fn undo_stuck(env: &dyn Environment, fault: &Fault) -> Result<FaultReport> {
    let prefix = env.endpoints().key_prefix;
    let r = FaultReport::new(fault, "undo", "this is the undo of stuck-keys");
    let pattern = keys::all_keys_pattern(&format!("{prefix}{STUCK_KEY_INFIX}"));
    if env.endpoints().redis_is_cluster() {
        return undo_on_cluster(env, r, &pattern).await;
    }
    let mut r = r;
    let redis = verify::redis(env)?;
    let found = redis.scan(&pattern).await?;
    let deleted: u64 = if found.is_empty() {
        0
    } else {
        redis.query(redis::cmd("DEL").arg(&found)).await?
    };
    r.effective_now();
    r.did
        .push(format!("deleted {deleted} keys matching {pattern}"));
    let left = redis.scan(&pattern).await?.len();
    r.checks.push(Check::new(
        "no chaos key is left",
        left == 0,
        format!("{left} keys match {pattern}"),
    ));
    Ok(r)
}
