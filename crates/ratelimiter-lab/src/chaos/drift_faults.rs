//! Faults that run one node differently from the others, by restarting it with other flags
//! (local only: [`Environment::restart_with`]): another key prefix (`key-prefix-mismatch`), a
//! shifted clock (`clock-drift`). Their undos restart it with its usual flags.

use std::time::Duration;

use super::fault::Fault;
use super::node_faults;
use super::report::{Check, FaultReport, command};
use super::verify;
use crate::environment::Environment;
use crate::error::Result;

/// The key prefix `key-prefix-mismatch` gives its node: valid, and never the stack's.
pub const OTHER_PREFIX: &str = "chaos-other:";

/// What node `n` reports in `/v1/node`, waited for briefly (it has just been restarted).
async fn node_info(
    env: &dyn Environment,
    n: usize,
) -> std::result::Result<ratelimiter_schema::NodeInfo, String> {
    let probe = verify::nodes(env).map_err(|e| e.to_string())?;
    let url = env
        .endpoints()
        .node(n)
        .map_err(|e| e.to_string())?
        .to_owned();
    let mut last = String::new();
    for _ in 0..20 {
        match probe.info(&url).await {
            Ok(i) => return Ok(i),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(last)
}

pub(super) async fn key_prefix(
    env: &dyn Environment,
    fault: &Fault,
    n: usize,
) -> Result<FaultReport> {
    let mut r = FaultReport::new(
        fault,
        "inject",
        format!(
            "not undone by itself: `{} undo key-prefix-mismatch {n}` restarts node-{n} with its \
             usual flags",
            command(env)
        ),
    );
    node_faults::restart_with(env, &mut r, n, &[("--key-prefix", OTHER_PREFIX)]).await?;
    r.effective_now();
    let (ok, detail) = match node_info(env, n).await {
        Ok(i) => (
            i.key_prefix == OTHER_PREFIX,
            format!(
                "/v1/node says key_prefix {:?} (the stack's: {:?})",
                i.key_prefix,
                env.endpoints().key_prefix
            ),
        ),
        Err(e) => (false, e),
    };
    r.checks.push(Check::new(
        format!("node-{n} uses key prefix {OTHER_PREFIX:?}"),
        ok,
        detail,
    ));
    Ok(r)
}

pub(super) async fn undo_key_prefix(
    env: &dyn Environment,
    fault: &Fault,
    n: usize,
) -> Result<FaultReport> {
    let mut r = FaultReport::new(
        fault,
        "undo",
        format!("this is the undo of key-prefix-mismatch {n}"),
    );
    node_faults::restart_with(env, &mut r, n, &[]).await?;
    r.effective_now();
    // What it wrote under the other prefix (policies, registry, counters) all has a TTL; on one
    // Redis it is deleted anyway, so that the next trial starts from nothing (on a cluster its
    // keys span the shards: left to their TTL).
    if env.endpoints().redis_is_cluster() {
        r.did.push(format!(
            "left what node-{n} wrote under {OTHER_PREFIX:?} to its TTL (a Redis Cluster)"
        ));
    } else {
        let redis = verify::redis(env)?;
        let keys = redis.scan(&format!("{OTHER_PREFIX}*")).await?;
        for chunk in keys.chunks(500) {
            redis.query::<u64>(redis::cmd("DEL").arg(chunk)).await?;
        }
        r.did.push(format!(
            "deleted what node-{n} wrote under {OTHER_PREFIX:?} ({} {})",
            keys.len(),
            if keys.len() == 1 { "key" } else { "keys" }
        ));
    }
    r.checks.extend(verify::whole(env).await);
    Ok(r)
}

pub(super) async fn clock(
    env: &dyn Environment,
    fault: &Fault,
    n: usize,
    offset_ms: i64,
) -> Result<FaultReport> {
    let mut r = FaultReport::new(
        fault,
        "inject",
        format!(
            "not undone by itself: `{} undo clock-drift {n}` restarts node-{n} with its usual \
             flags",
            command(env)
        ),
    );
    let offset = offset_ms.to_string();
    node_faults::restart_with(env, &mut r, n, &[("--clock-offset-ms", &offset)]).await?;
    r.effective_now();
    // The node's own clock moved; Redis TIME did not. The node measures the gap itself from
    // its Redis replies (`clock_skew_ms`), once it has talked to Redis.
    let (ok, detail) = match node_info(env, n).await {
        Ok(i) => {
            let host = chrono::Utc::now().timestamp_millis();
            let moved = i64::try_from(i.now_ms).unwrap_or(0) - host;
            (
                (moved - offset_ms).abs() < 1_000,
                format!(
                    "/v1/node now_ms is {moved} ms from this host's clock (offset {offset_ms} ms); \
                     the node measures {} ms against Redis TIME",
                    i.clock_skew_ms
                        .map_or_else(|| "no skew yet".to_owned(), |s| s.to_string())
                ),
            )
        }
        Err(e) => (false, e),
    };
    r.checks.push(Check::new(
        format!("node-{n}'s clock is {offset_ms} ms off"),
        ok,
        detail,
    ));
    Ok(r)
}

pub(super) async fn undo_clock(
    env: &dyn Environment,
    fault: &Fault,
    n: usize,
) -> Result<FaultReport> {
    let mut r = FaultReport::new(
        fault,
        "undo",
        format!("this is the undo of clock-drift {n}"),
    );
    node_faults::restart_with(env, &mut r, n, &[]).await?;
    r.effective_now();
    r.checks.extend(verify::whole(env).await);
    Ok(r)
}
