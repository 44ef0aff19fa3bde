//! Faults on the key space: keys without a TTL.

use ratelimiter_schema::keys;

use super::fault::Fault;
use super::report::{Check, FaultReport, command};
use super::verify;
use crate::environment::Environment;
use crate::error::Result;

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
    let redis = verify::redis(env)?;
    let names: Vec<String> = (1..=n)
        .map(|i| format!("{prefix}{STUCK_KEY_INFIX}{i}"))
        .collect();
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

pub(super) async fn undo_stuck(env: &dyn Environment, fault: &Fault) -> Result<FaultReport> {
    let prefix = env.endpoints().key_prefix;
    let mut r = FaultReport::new(fault, "undo", "this is the undo of stuck-keys");
    let redis = verify::redis(env)?;
    let pattern = keys::all_keys_pattern(&format!("{prefix}{STUCK_KEY_INFIX}"));
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
