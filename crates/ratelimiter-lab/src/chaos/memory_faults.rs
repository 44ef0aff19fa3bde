//! `eviction`: Redis at a tiny `maxmemory` with a policy that evicts any key, filled until it
//! does, so limiter counters (and maybe the policies) are evicted as they would be in
//! production. Local only: the undo puts back the local Redis's own settings (no limit,
//! `noeviction`), which it knows; on compose Redis runs with settings of its compose file.

use super::fault::Fault;
use super::report::{Check, FaultReport, command};
use super::verify;
use crate::environment::Environment;
use crate::error::{Error, Result};
use crate::probe::RedisProbe;

/// The keys `eviction` fills Redis with, outside the limiter's prefix (so the monitor does not
/// count them as the limiter's), each with a TTL.
pub const FILL_PREFIX: &str = "chaos:fill:";
/// The TTL of a fill key: longer than a trial, so the pressure lasts until the undo.
const FILL_TTL_MS: u64 = 600_000;
/// The size of a fill value.
const FILL_VALUE: usize = 4_096;
/// `maxmemory` is set this much above the memory Redis uses.
const HEADROOM: u64 = 2 * 1024 * 1024;
/// Fill keys written at most (4 KiB each: eight times the headroom).
const MAX_FILL: u64 = 4_096;

/// An `INFO` field as a number (0 when absent).
async fn info_u64(redis: &RedisProbe, section: &str, field: &str) -> Result<u64> {
    Ok(redis
        .info_field(section, field)
        .await?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
}

fn local_only(env: &dyn Environment, fault: &Fault) -> Result<()> {
    if env.kind() == "local" {
        Ok(())
    } else {
        Err(Error::LocalOnly {
            what: format!(
                "{} (its undo puts back the local Redis's own settings: no maxmemory, noeviction)",
                fault.name()
            ),
            environment: env.kind(),
        })
    }
}

pub(super) async fn eviction(env: &dyn Environment, fault: &Fault) -> Result<FaultReport> {
    local_only(env, fault)?;
    let mut r = FaultReport::new(
        fault,
        "inject",
        format!(
            "not undone by itself: `{} undo eviction` sets maxmemory 0 and maxmemory-policy \
             noeviction again and deletes the fill keys",
            command(env)
        ),
    );
    let redis = verify::redis(env)?;
    let used = info_u64(&redis, "memory", "used_memory").await?;
    let max = used + HEADROOM;
    redis
        .query::<()>(
            redis::cmd("CONFIG")
                .arg("SET")
                .arg("maxmemory")
                .arg(max)
                .arg("maxmemory-policy")
                .arg("allkeys-lru"),
        )
        .await?;
    r.effective_now();
    r.did.push(format!(
        "CONFIG SET maxmemory {max} (used_memory {used} + {HEADROOM}) maxmemory-policy allkeys-lru"
    ));
    let before = info_u64(&redis, "stats", "evicted_keys").await?;
    let value = "x".repeat(FILL_VALUE);
    let (mut written, mut evicted) = (0u64, 0u64);
    while written < MAX_FILL && evicted == 0 {
        let mut pipe = redis::pipe();
        for i in written..written + 100 {
            pipe.cmd("SET")
                .arg(format!("{FILL_PREFIX}{i}"))
                .arg(&value)
                .arg("PX")
                .arg(FILL_TTL_MS)
                .ignore();
        }
        redis.pipe::<()>(&pipe).await?;
        written += 100;
        evicted = info_u64(&redis, "stats", "evicted_keys")
            .await?
            .saturating_sub(before);
    }
    r.did.push(format!(
        "wrote {written} keys {FILL_PREFIX}<i> of {FILL_VALUE} bytes ({} s TTL)",
        FILL_TTL_MS / 1000
    ));
    r.checks.push(Check::new(
        "Redis evicts keys",
        evicted > 0,
        format!("evicted_keys grew by {evicted} (maxmemory {max}, allkeys-lru)"),
    ));
    Ok(r)
}

pub(super) async fn undo_eviction(env: &dyn Environment, fault: &Fault) -> Result<FaultReport> {
    local_only(env, fault)?;
    let mut r = FaultReport::new(fault, "undo", "this is the undo of eviction");
    let redis = verify::redis(env)?;
    redis
        .query::<()>(
            redis::cmd("CONFIG")
                .arg("SET")
                .arg("maxmemory")
                .arg(0)
                .arg("maxmemory-policy")
                .arg("noeviction"),
        )
        .await?;
    r.effective_now();
    let keys = redis.scan(&format!("{FILL_PREFIX}*")).await?;
    for chunk in keys.chunks(500) {
        redis.query::<u64>(redis::cmd("DEL").arg(chunk)).await?;
    }
    r.did.push(format!(
        "CONFIG SET maxmemory 0 maxmemory-policy noeviction; deleted {} fill keys",
        keys.len()
    ));
    let policy: Vec<String> = redis
        .query(redis::cmd("CONFIG").arg("GET").arg("maxmemory-policy"))
        .await?;
    r.checks.push(Check::new(
        "Redis no longer evicts",
        policy.get(1).is_some_and(|p| p == "noeviction"),
        format!(
            "maxmemory-policy {}",
            policy.get(1).map_or("?", String::as_str)
        ),
    ));
    r.checks.extend(verify::whole(env).await);
    Ok(r)
}
