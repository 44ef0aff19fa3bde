//! The chapter of a demo on a Redis Cluster (`operator demo --redis cluster`): a Redis primary
//! killed. The monitor names the dead instance and the failover; the nodes keep deciding (by
//! their failure mode for the dead shard's slots, exactly for the others); exact limiting
//! resumes on the promoted replica by itself; the killed member, started again, rejoins as a
//! replica and every ticket resolves. Exact limiting counts as resumed from the first of three
//! observations between which no node took a decision by its failure mode, under the load.

use std::time::Duration;

use operator_ratelimiter::checker::{FAILOVER_DETECTED, REDIS_HEALTHY};
use tokio::time::Instant;

use super::story::Ctx;
use super::summary::ChapterResult;
use crate::chaos::{self, Fault};
use crate::error::Result;
use crate::human;
use crate::probe::NodeProbe;

/// The chapter's title, as the summary shows it.
pub(crate) const TITLE: &str = "a Redis primary killed";
/// The shard whose primary is killed.
const SHARD: usize = 1;

/// The decisions every node took by its failure mode so far, summed; `None` when a node does
/// not answer.
async fn failure_decisions(ctx: &Ctx<'_>) -> Option<u64> {
    let probe = NodeProbe::new(Duration::from_millis(500))
        .ok()?
        .with_token(ctx.env.endpoints().node_token);
    let mut total = 0;
    for url in ctx.env.endpoints().nodes {
        let f = probe.info(&url).await.ok()?.failure_decisions;
        total += f.open + f.closed + f.local;
    }
    Some(total)
}

/// Ticks until no node has decided by its failure mode for two observations in a row (under
/// load, every decision goes to Redis again, exactly); how long after `at` that began.
async fn until_exact(ctx: &mut Ctx<'_>, at: Instant, timeout: Duration) -> Result<Option<u64>> {
    let end = Instant::now() + timeout;
    let mut samples: Vec<(Instant, Option<u64>)> = Vec::new();
    while Instant::now() < end {
        samples.push((Instant::now(), failure_decisions(ctx).await));
        if let [.., (since, Some(a)), (_, Some(b)), (_, Some(c))] = samples.as_slice()
            && a == b
            && b == c
        {
            return Ok(Some(Ctx::between(at, *since)));
        }
        ctx.tick().await?;
    }
    Ok(None)
}

/// The chapter, numbered `chapter`.
pub(crate) async fn primary_killed(ctx: &mut Ctx<'_>, chapter: usize) -> Result<ChapterResult> {
    let fault = Fault::KillRedisPrimary(SHARD);
    let mut r = ctx.begin(
        chapter,
        TITLE,
        &fault.to_string(),
        "the dead instance and the failover reported; the nodes keep deciding; exact limits resume on the promoted replica",
    );
    let from = ctx.seen.len();
    let env = ctx.env;
    let report = ctx.during(chaos::inject(env, fault)).await??;
    ctx.fault(&report);
    let at = report.instant;
    let took_over = report.ok();
    let is_failover = |c: &Ctx<'_>| {
        c.find(from, |s| {
            matches!(s.event, operator_core::Event::Opened { .. })
                && s.what().starts_with(FAILOVER_DETECTED)
        })
        .map(|s| s.instant)
    };
    // Sampled from right after the replica took over, while the monitor keeps ticking.
    let exact_after = until_exact(ctx, at, ctx.deadline).await?;
    let reported = ctx
        .until(ctx.deadline, |c| is_failover(c).is_some())
        .await?;
    if let Some(seen) = is_failover(ctx) {
        r.detected_after_ms = Some(Ctx::between(at, seen));
        r.detected = Some(FAILOVER_DETECTED.to_owned());
    }
    let dead_named = ctx
        .find(from, |s| {
            matches!(s.event, operator_core::Event::Opened { .. })
                && s.what().starts_with(&format!("{REDIS_HEALTHY}["))
        })
        .map(|s| s.what());
    r.recovered_after_ms = exact_after;
    let load = ctx.load.since(at);
    ctx.note(format!(
        "clients meanwhile: {} allowed, {} denied, {} errors",
        load.allowed, load.denied, load.errors
    ));
    if let Some(ms) = exact_after {
        ctx.note(format!(
            "exact limiting resumed on every node {} after the kill (no decision by a failure mode since)",
            human::duration(Duration::from_millis(ms))
        ));
    }

    // The killed member comes back as a replica; every ticket of the chapter resolves.
    let undo = ctx.during(chaos::undo(env, fault)).await??;
    ctx.fault(&undo);
    let resolved = ctx
        .until(ctx.deadline * 4, |c| {
            c.still_open(from).is_empty() && c.healthy()
        })
        .await?;
    r.ok = took_over
        && reported
        && dead_named.is_some()
        && exact_after.is_some()
        && load.errors == 0
        && resolved;
    r.outcome = if r.ok {
        format!(
            "{} and the failover reported {} after the kill; exact limiting resumed after {}; {} decisions meanwhile, no error; whole again once the member rejoined",
            dead_named.unwrap_or_default(),
            human::duration(Duration::from_millis(r.detected_after_ms.unwrap_or(0))),
            human::duration(Duration::from_millis(exact_after.unwrap_or(0))),
            load.allowed + load.denied
        )
    } else {
        format!(
            "replica took over: {took_over}; failover reported: {reported}; dead instance named: {}; exact again: {}; client errors: {}; resolved after the undo: {resolved} (still open: {:?})",
            dead_named.is_some(),
            exact_after.is_some(),
            load.errors,
            ctx.still_open(from)
        )
    };
    Ok(ctx.end(r))
}
