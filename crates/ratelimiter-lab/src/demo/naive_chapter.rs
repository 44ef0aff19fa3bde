//! The chapter of seed 003's teaching mode (local stacks only: the nodes are restarted with
//! other flags): the same burst of concurrent checks of one fresh key, first on the atomic nodes
//! (admitted exactly up to the limit), then with every node in `--limiter-mode naive` (the
//! check-then-increment race admits past it, and the monitor's `over_admission` names the nodes
//! and the mode); the nodes atomic again, the tickets resolve.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use operator_ratelimiter::checker::OVER_ADMISSION;

use super::story::Ctx;
use super::summary::ChapterResult;
use crate::chaos::{self, Fault};
use crate::error::{Error, Result};
use crate::human;

/// The chapter's title, as the summary shows it.
pub(crate) const TITLE: &str = "naive mode: check, then increment";
/// The limit of the nodes' built-in policy (`default`: 100 per second) the burst's key falls under.
const LIMIT: usize = 100;
/// Concurrent checks in each burst.
const BURST: usize = 300;

/// Sends `n` checks of `key` at once over `nodes` (connections opened by a warm-up first; the
/// requests released together early in a second, so that the burst stays in one window of the
/// per-second policy); how many were admitted.
async fn burst(nodes: &[String], key: &str, n: usize) -> Result<usize> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(n)
        .build()
        .map_err(|e| Error::Config(format!("http client for the burst: {e}")))?;
    let url = |i: usize| format!("{}/v1/check", nodes[i % nodes.len()].trim_end_matches('/'));
    let mut warm_up = tokio::task::JoinSet::new();
    for i in 0..n {
        let request = client
            .post(url(i))
            .json(&serde_json::json!({ "key": format!("demo-warm-up:{i}") }));
        warm_up.spawn(async move { request.send().await.is_ok() });
    }
    warm_up.join_all().await;
    let (go, ready) = tokio::sync::watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let request = client.post(url(i)).json(&serde_json::json!({ "key": key }));
        let mut ready = ready.clone();
        tasks.spawn(async move {
            let _ = ready.wait_for(|go| *go).await;
            request
                .send()
                .await
                .is_ok_and(|r| r.status() == reqwest::StatusCode::OK)
        });
    }
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_millis());
    tokio::time::sleep(Duration::from_millis(u64::from(1_020 - ms))).await;
    let _ = go.send(true);
    Ok(tasks.join_all().await.into_iter().filter(|ok| *ok).count())
}

/// A key no earlier run used.
fn fresh_key(what: &str) -> String {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("demo-{what}:{ms}")
}

/// The chapter, numbered `chapter`.
pub(crate) async fn naive_mode(ctx: &mut Ctx<'_>, chapter: usize) -> Result<ChapterResult> {
    let fault = Fault::NaiveMode;
    let mut r = ctx.begin(
        chapter,
        TITLE,
        &fault.to_string(),
        &format!(
            "{BURST} concurrent checks of one key: exactly {LIMIT} admitted by the atomic nodes, \
             more in naive mode, reported as over_admission naming the mode; resolved once atomic"
        ),
    );
    let nodes = ctx.env.endpoints().nodes;
    let addr = ctx.env.endpoints().node_addr(1)?;
    let what = format!("{OVER_ADMISSION}[{addr}]");
    let exact = ctx
        .during(burst(&nodes, &fresh_key("atomic"), BURST))
        .await??;
    ctx.note(format!(
        "atomic: {exact} of {BURST} concurrent checks admitted (limit {LIMIT})"
    ));

    let from = ctx.seen.len();
    let env = ctx.env;
    let injected = ctx.during(chaos::inject(env, fault)).await??;
    ctx.fault(&injected);
    let naive = ctx
        .during(burst(&nodes, &fresh_key("naive"), BURST))
        .await??;
    ctx.note(format!(
        "naive: {naive} of {BURST} concurrent checks admitted (limit {LIMIT}): +{} %",
        naive.saturating_sub(LIMIT) * 100 / LIMIT
    ));
    let reported = ctx
        .until(ctx.deadline, |c| {
            c.find(from, |s| s.is_opened(&what)).is_some()
        })
        .await?;
    if let Some(seen) = ctx.find(from, |s| s.is_opened(&what)) {
        r.detected_after_ms = Some(Ctx::between(injected.instant, seen.instant));
        r.detected = Some(what.clone());
    }
    let undone = ctx.during(chaos::undo(env, fault)).await??;
    ctx.fault(&undone);
    let resolved = ctx
        .until(ctx.deadline, |c| {
            c.find(from, |s| s.is_resolved(&what)).is_some()
        })
        .await?;
    if let Some(seen) = ctx.find(from, |s| s.is_resolved(&what)) {
        r.recovered_after_ms = Some(Ctx::between(undone.instant, seen.instant));
    }
    r.ok = exact == LIMIT && naive > LIMIT && reported && resolved && injected.ok() && undone.ok();
    r.outcome = if r.ok {
        format!(
            "atomic admitted exactly {exact}; naive admitted {naive} (+{} %); {what} reported {} \
             after the restart into naive mode, resolved {} after the nodes were atomic again",
            naive.saturating_sub(LIMIT) * 100 / LIMIT,
            human::duration(Duration::from_millis(r.detected_after_ms.unwrap_or(0))),
            human::duration(Duration::from_millis(r.recovered_after_ms.unwrap_or(0)))
        )
    } else if exact != LIMIT {
        format!(
            "the atomic nodes admitted {exact}, not {LIMIT} (a burst across a second's boundary?)"
        )
    } else if naive <= LIMIT {
        format!(
            "naive mode admitted only {naive}: the race did not show (machine too slow to overlap?)"
        )
    } else if !reported {
        format!(
            "{what} was not reported within {}",
            human::duration(ctx.deadline)
        )
    } else if !resolved {
        format!(
            "{what} still open {} after the undo",
            human::duration(ctx.deadline)
        )
    } else {
        "the restart into or out of naive mode failed a verification".to_owned()
    };
    Ok(ctx.end(r))
}
