//! The five chapters of the demo. Each injects its fault while the monitor keeps observing,
//! waits (bounded) for the outcome it expects, measures it, and says what it saw.

use std::collections::BTreeMap;
use std::time::Duration;

use operator_ratelimiter::RateLimitAction;
use operator_ratelimiter::checker::{CONFIG_LOADED, NO_STUCK_KEYS, NODE_DOWN, REDIS_HEALTHY};
use tokio::time::Instant;

use super::story::Ctx;
use super::summary::ChapterResult;
use crate::chaos::{self, Fault};
use crate::error::Result;
use crate::human;
use crate::probe::NodeProbe;

fn secs(d: Duration) -> String {
    human::duration(d)
}

/// 1. Healthy baseline: nothing fires for a while under load.
pub(crate) async fn baseline(ctx: &mut Ctx<'_>, length: Duration) -> Result<ChapterResult> {
    let mut r = ctx.begin(
        1,
        "healthy baseline",
        "-",
        &format!("no violation for {} under steady load", secs(length)),
    );
    // The first observations have no history yet; wait until one is clean.
    if !ctx.until(ctx.deadline, Ctx::healthy).await? {
        r.outcome = format!(
            "the stack never looked healthy within {}: firing {:?}",
            secs(ctx.deadline),
            ctx.firing()
        );
        return Ok(ctx.end(r));
    }
    let from = ctx.seen.len();
    let start = Instant::now();
    let mut ticks = 0u32;
    let mut dirty = Vec::new();
    while start.elapsed() < length {
        ctx.tick().await?;
        ticks += 1;
        dirty.extend(ctx.firing());
    }
    let opened: Vec<String> = ctx.seen[from..].iter().map(|s| s.what()).collect();
    let load = ctx.load.since(start);
    r.ok = opened.is_empty() && dirty.is_empty();
    r.outcome = if r.ok {
        format!(
            "no violation in {} ({ticks} observations) while the load made {} decisions ({} allowed, {} denied, {} errors)",
            secs(start.elapsed()),
            load.allowed + load.denied,
            load.allowed,
            load.denied,
            load.errors
        )
    } else {
        dirty.dedup();
        format!("violations during the baseline: opened {opened:?}, firing {dirty:?}")
    };
    Ok(ctx.end(r))
}

/// Per node id: failure mode, decisions without Redis, allowed, denied; read from each node's
/// `/v1/node` now (a node that does not answer is left out).
async fn node_counters(ctx: &Ctx<'_>) -> BTreeMap<String, (String, u64, u64, u64)> {
    let Ok(probe) = NodeProbe::new(Duration::from_millis(500)) else {
        return BTreeMap::new();
    };
    let probe = probe.with_token(ctx.env.endpoints().node_token);
    let mut out = BTreeMap::new();
    for url in ctx.env.endpoints().nodes {
        if let Ok(i) = probe.info(&url).await {
            let f = i.failure_decisions;
            out.insert(
                i.node_id.clone(),
                (
                    i.failure_mode.to_string(),
                    f.open + f.closed + f.local,
                    i.allowed,
                    i.denied,
                ),
            );
        }
    }
    out
}

/// 2. Redis killed: `redis_healthy` is reported; the nodes decide by their failure mode.
///
/// Returns the result and the index in `seen` where the outage's events begin.
pub(crate) async fn redis_killed(ctx: &mut Ctx<'_>) -> Result<(ChapterResult, usize)> {
    let mut r = ctx.begin(
        2,
        "Redis killed",
        "kill-redis",
        "redis_healthy reported within seconds; the nodes keep deciding by their failure mode",
    );
    let from = ctx.seen.len();
    let before = node_counters(ctx).await;
    let env = ctx.env;
    let fault = ctx.during(chaos::inject(env, Fault::KillRedis)).await??;
    ctx.fault(&fault);
    let at = fault.instant;
    let detected = ctx
        .until(ctx.deadline, |c| {
            c.find(from, |s| s.is_opened(REDIS_HEALTHY)).is_some()
        })
        .await?;
    if let Some(seen) = ctx.find(from, |s| s.is_opened(REDIS_HEALTHY)) {
        r.detected_after_ms = Some(Ctx::between(at, seen.instant));
        r.detected = Some(REDIS_HEALTHY.to_owned());
    }
    // Let the nodes decide without Redis for a while, under load.
    ctx.observe_for(Duration::from_secs(3)).await?;
    let after = node_counters(ctx).await;
    let mut without_redis = 0;
    let mut lines = Vec::new();
    for (id, (mode, failed, allowed, denied)) in &after {
        let (_, f0, a0, d0) = before.get(id).cloned().unwrap_or_default();
        let n = failed.saturating_sub(f0);
        without_redis += n;
        lines.push(format!(
            "{id} (failure mode {mode}): {n} decisions without Redis ({} allowed, {} denied)",
            allowed.saturating_sub(a0),
            denied.saturating_sub(d0)
        ));
    }
    for line in &lines {
        ctx.note(line.clone());
    }
    let load = ctx.load.since(at);
    ctx.note(format!(
        "clients meanwhile: {} allowed, {} denied, {} errors",
        load.allowed, load.denied, load.errors
    ));
    r.ok = detected && without_redis > 0;
    r.outcome = match (detected, r.detected_after_ms) {
        (true, Some(ms)) if without_redis > 0 => format!(
            "redis_healthy reported {} after the kill; the nodes took {without_redis} decisions by their failure mode",
            secs(Duration::from_millis(ms))
        ),
        (true, _) => "redis_healthy reported, but the nodes took no failure-mode decision (is the load running?)"
            .to_owned(),
        _ => format!("redis_healthy was not reported within {}", secs(ctx.deadline)),
    };
    Ok((ctx.end(r), from))
}

/// 3. Redis restarted empty: `config_loaded` reported, the nodes re-seed, everything resolves.
///
/// Returns the result and how long `redis_healthy` took to resolve after the restart.
pub(crate) async fn redis_restarted(
    ctx: &mut Ctx<'_>,
    outage_from: usize,
) -> Result<(ChapterResult, Option<u64>)> {
    let mut r = ctx.begin(
        3,
        "Redis restarted empty",
        "restart-redis",
        "config_loaded reported (the policies were lost); the nodes re-seed them; every ticket resolves",
    );
    let from = ctx.seen.len();
    let env = ctx.env;
    let fault = ctx
        .during(chaos::inject(env, Fault::RestartRedis))
        .await??;
    ctx.fault(&fault);
    let at = fault.instant;
    let reported = ctx
        .until(ctx.deadline, |c| {
            c.find(from, |s| s.is_opened(CONFIG_LOADED)).is_some()
        })
        .await?;
    if let Some(seen) = ctx.find(from, |s| s.is_opened(CONFIG_LOADED)) {
        r.detected_after_ms = Some(Ctx::between(at, seen.instant));
        r.detected = Some(CONFIG_LOADED.to_owned());
    }
    let resolved = ctx
        .until(ctx.deadline * 4, |c| {
            c.still_open(outage_from).is_empty() && c.healthy()
        })
        .await?;
    let last_resolution = ctx.seen[outage_from..]
        .iter()
        .filter(|s| matches!(s.event, operator_core::Event::Resolved { .. }))
        .map(|s| s.instant)
        .max();
    if resolved {
        r.recovered_after_ms = Some(Ctx::between(at, last_resolution.unwrap_or(at)));
    }
    let redis_back = ctx
        .find(outage_from, |s| s.is_resolved(REDIS_HEALTHY))
        .map(|s| Ctx::between(at, s.instant));
    r.ok = reported && resolved;
    r.outcome = match (reported, resolved) {
        (true, true) => format!(
            "config_loaded reported {} after Redis came back empty; every ticket of the outage resolved {} after it",
            secs(Duration::from_millis(r.detected_after_ms.unwrap_or(0))),
            secs(Duration::from_millis(r.recovered_after_ms.unwrap_or(0)))
        ),
        (false, _) => format!(
            "config_loaded was not reported within {} of the restart (a Redis that comes back empty loses its policies)",
            secs(ctx.deadline)
        ),
        (true, false) => format!(
            "still open {} after the restart: {:?}",
            secs(ctx.deadline * 4),
            ctx.still_open(outage_from)
        ),
    };
    Ok((ctx.end(r), redis_back))
}

/// 4. Stuck keys: `no_stuck_keys` reported, `repair_stuck_keys` run, re-observed clear.
pub(crate) async fn stuck_keys(ctx: &mut Ctx<'_>, count: u64) -> Result<ChapterResult> {
    let fault_kind = Fault::StuckKeys(count);
    let mut r = ctx.begin(
        4,
        "stuck keys injected",
        &fault_kind.to_string(),
        "no_stuck_keys reported; the subject's repair_stuck_keys action gives them a TTL; re-observed clear",
    );
    let from = ctx.seen.len();
    let env = ctx.env;
    let fault = ctx.during(chaos::inject(env, fault_kind)).await??;
    ctx.fault(&fault);
    let reported = ctx
        .until(ctx.deadline, |c| {
            c.find(from, |s| s.is_opened(NO_STUCK_KEYS)).is_some()
        })
        .await?;
    if let Some(seen) = ctx.find(from, |s| s.is_opened(NO_STUCK_KEYS)) {
        r.detected_after_ms = Some(Ctx::between(fault.instant, seen.instant));
        r.detected = Some(NO_STUCK_KEYS.to_owned());
    }
    let action = ctx.execute(&RateLimitAction::RepairStuckKeys {}).await?;
    let repaired_at = Instant::now();
    let cleared = ctx
        .until(ctx.deadline, |c| {
            c.find(from, |s| s.is_resolved(NO_STUCK_KEYS)).is_some()
        })
        .await?;
    if let Some(seen) = ctx.find(from, |s| s.is_resolved(NO_STUCK_KEYS)) {
        r.recovered_after_ms = Some(Ctx::between(repaired_at, seen.instant));
    }
    // The keys now expire in a day; remove them so the demo leaves nothing behind.
    let cleanup = chaos::undo(env, fault_kind).await?;
    ctx.fault(&cleanup);
    r.ok = reported && action.changed && cleared && cleanup.ok();
    r.outcome = if r.ok {
        format!(
            "no_stuck_keys reported {} after the keys were written; repair_stuck_keys ({}) cleared it {} later",
            secs(Duration::from_millis(r.detected_after_ms.unwrap_or(0))),
            action.summary,
            secs(Duration::from_millis(r.recovered_after_ms.unwrap_or(0)))
        )
    } else if !reported {
        format!(
            "no_stuck_keys was not reported within {}",
            secs(ctx.deadline)
        )
    } else if !action.changed {
        format!("repair_stuck_keys changed nothing: {}", action.summary)
    } else if !cleared {
        format!(
            "no_stuck_keys still firing {} after the repair",
            secs(ctx.deadline)
        )
    } else {
        "the chaos keys could not be cleaned up".to_owned()
    };
    Ok(ctx.end(r))
}

/// 5. A node killed and restarted: `node_down` for that node only, then resolved.
pub(crate) async fn node_killed(ctx: &mut Ctx<'_>, node: usize) -> Result<ChapterResult> {
    let kill = Fault::KillNode(node);
    let mut r = ctx.begin(
        5,
        "a node killed and restarted",
        &kill.to_string(),
        &format!("node_down for node-{node} only, resolved once it is restarted"),
    );
    let addr = ctx.env.endpoints().node_addr(node)?;
    let what = format!("{NODE_DOWN}[{addr}]");
    let from = ctx.seen.len();
    let env = ctx.env;
    let fault = ctx.during(chaos::inject(env, kill)).await??;
    ctx.fault(&fault);
    let reported = ctx
        .until(ctx.deadline, |c| {
            c.find(from, |s| s.is_opened(&what)).is_some()
        })
        .await?;
    if let Some(seen) = ctx.find(from, |s| s.is_opened(&what)) {
        r.detected_after_ms = Some(Ctx::between(fault.instant, seen.instant));
        r.detected = Some(what.clone());
    }
    // Long enough for a wrongly blamed node to show up too.
    ctx.observe_for(Duration::from_secs(2)).await?;
    let others: Vec<String> = ctx.seen[from..]
        .iter()
        .filter(|s| matches!(s.event, operator_core::Event::Opened { .. }))
        .map(|s| s.what())
        .filter(|w| w.starts_with(NODE_DOWN) && *w != what)
        .collect();
    let load = ctx.load.since(fault.instant);
    ctx.note(format!(
        "clients meanwhile: {} allowed, {} denied, {} errors (requests sent to node-{node} fail)",
        load.allowed, load.denied, load.errors
    ));
    let restart = ctx.during(chaos::undo(env, kill)).await??;
    ctx.fault(&restart);
    // A node started afresh may answer its first decisions slowly (connections, script loads)
    // on a loaded machine: a high_latency warning on that node alone does not fail the chapter.
    let warmup = format!("high_latency[{addr}]");
    let resolved = ctx
        .until(ctx.deadline, |c| {
            c.find(from, |s| s.is_resolved(&what)).is_some()
                && c.still_open(from).iter().all(|w| *w == warmup)
        })
        .await?;
    if let Some(seen) = ctx.find(from, |s| s.is_resolved(&what)) {
        r.recovered_after_ms = Some(Ctx::between(restart.instant, seen.instant));
    }
    r.ok = reported && others.is_empty() && resolved && restart.ok();
    r.outcome = if r.ok {
        format!(
            "{what} reported {} after the kill, no other node blamed; resolved {} after the restart",
            secs(Duration::from_millis(r.detected_after_ms.unwrap_or(0))),
            secs(Duration::from_millis(r.recovered_after_ms.unwrap_or(0)))
        )
    } else if !reported {
        format!("{what} was not reported within {}", secs(ctx.deadline))
    } else if !others.is_empty() {
        format!("other nodes were reported down too: {others:?}")
    } else {
        format!(
            "still open {} after the restart: {:?}",
            secs(ctx.deadline),
            ctx.still_open(from)
        )
    };
    Ok(ctx.end(r))
}
