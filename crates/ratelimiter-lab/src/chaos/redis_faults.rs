//! Faults on Redis: kill, restart empty, pause, drop the policies, flush the scripts.

use std::collections::BTreeMap;
use std::time::Duration;

use ratelimiter_schema::keys::{self, POLICY_VERSION_FIELD};

use super::fault::Fault;
use super::report::{Check, FaultReport, command};
use super::verify;
use crate::environment::{Component, Environment, PauseStyle};
use crate::error::Result;
use crate::human;
use crate::probe::{RedisProbe, wait_until};

/// What a component is and how its environment runs it: (`redis-server` or `the redis
/// container`, `pid 4242, port 6379` or `container operator_redis_1 started 12:00:01.234, port
/// 6379`).
pub(super) async fn describe(env: &dyn Environment, c: Component) -> (String, String) {
    let status = env.status().await.ok().unwrap_or_default();
    let Some(s) = status.iter().find(|s| s.component == c) else {
        return (c.to_string(), String::new());
    };
    let program = match c {
        Component::Redis | Component::RedisMember(_) => "redis-server".to_owned(),
        Component::Sentinel(_) => "redis-sentinel".to_owned(),
        Component::Node(_) => c.to_string(),
    };
    match (&s.container, s.pid) {
        (Some(name), _) => (
            format!("the {c} container"),
            format!(
                "container {name}{}, port {}",
                s.started_at
                    .map(|t| format!(" started {}", t.format("%H:%M:%S%.3f")))
                    .unwrap_or_default(),
                s.port
            ),
        ),
        (None, Some(pid)) => (program, format!("pid {pid}, port {}", s.port)),
        (None, None) => (program, format!("port {}", s.port)),
    }
}

pub(super) async fn kill(env: &dyn Environment, fault: &Fault) -> Result<FaultReport> {
    let mut r = FaultReport::new(
        fault,
        "inject",
        format!(
            "not undone by itself: `{} undo kill-redis` starts Redis again ({}) and the nodes \
             re-seed their policies if they are gone",
            command(env),
            if env.keeps_data(Component::Redis) {
                "with its data, from its append-only file"
            } else {
                "empty"
            }
        ),
    );
    let (what, who) = describe(env, Component::Redis).await;
    env.kill(Component::Redis).await?;
    r.effective_now();
    r.did.push(format!("killed {what} with SIGKILL ({who})"));
    let redis = verify::redis(env)?;
    let down = !redis.ping().await;
    r.checks.push(Check::new(
        "Redis no longer answers",
        down,
        if down {
            "PING fails: the nodes decide by their failure mode"
        } else {
            "PING still answered"
        },
    ));
    Ok(r)
}

pub(super) async fn undo_kill(env: &dyn Environment, fault: &Fault) -> Result<FaultReport> {
    let mut r = FaultReport::new(fault, "undo", "this is the undo of kill-redis");
    env.start(Component::Redis).await?;
    r.effective_now();
    let (what, who) = describe(env, Component::Redis).await;
    r.did.push(format!(
        "started {what} again, {} ({who})",
        if env.keeps_data(Component::Redis) {
            "with its data from its append-only file"
        } else {
            "empty"
        }
    ));
    r.checks = verify::whole(env).await;
    Ok(r)
}

pub(super) async fn restart(env: &dyn Environment, fault: &Fault) -> Result<FaultReport> {
    let mut r = FaultReport::new(
        fault,
        "inject",
        "undoes itself: Redis is back at once, and the nodes re-seed the policies they hold within ~250 ms \
         (verified below)",
    );
    let (what, before) = describe(env, Component::Redis).await;
    let began = tokio::time::Instant::now();
    let did = env.restart_empty(Component::Redis).await?;
    r.effective_now();
    let (_, after) = describe(env, Component::Redis).await;
    r.did.push(format!(
        "restarted {what} with no data: {did} (before: {before}; now: {after}; {} in all)",
        human::duration(began.elapsed())
    ));
    r.checks = verify::whole(env).await;
    Ok(r)
}

pub(super) async fn pause(
    env: &dyn Environment,
    fault: &Fault,
    d: Duration,
) -> Result<FaultReport> {
    let style = env.redis_pause_style();
    let undo = match style {
        PauseStyle::ClientPause => format!(
            "undoes itself: the pause ends after {} (verified below)",
            human::duration(d)
        ),
        PauseStyle::Freeze => format!(
            "undoes itself: the container is resumed after {} (verified below); if this command \
             is interrupted, `{} undo pause-redis` resumes it",
            human::duration(d),
            command(env)
        ),
    };
    let mut r = FaultReport::new(fault, "inject", undo);
    let redis = verify::redis(env)?;
    freeze(env, &redis, style, d, &mut r).await?;
    let ends = r.instant + d;
    r.checks.push(paused(env, d).await?);
    tokio::time::sleep_until(ends).await;
    if style == PauseStyle::Freeze {
        env.resume(Component::Redis).await?;
        r.did.push(format!(
            "resumed it after {}",
            human::duration(r.instant.elapsed())
        ));
    }
    r.checks.push(pause_ended(&redis, style, &mut r.did).await);
    r.checks.push(verify::nodes_ready(env).await);
    Ok(r)
}

/// Pauses Redis for `d` the way `style` says, and records it in `r`.
async fn freeze(
    env: &dyn Environment,
    redis: &RedisProbe,
    style: PauseStyle,
    d: Duration,
    r: &mut FaultReport,
) -> Result<()> {
    match style {
        PauseStyle::ClientPause => {
            let ms = human::millis(d);
            redis
                .query::<String>(redis::cmd("CLIENT").arg("PAUSE").arg(ms).arg("ALL"))
                .await?;
            r.effective_now();
            r.did.push(format!(
                "CLIENT PAUSE {ms} ALL: Redis holds every command for {}",
                human::duration(d)
            ));
        }
        PauseStyle::Freeze => {
            let (what, who) = describe(env, Component::Redis).await;
            env.pause(Component::Redis).await?;
            r.effective_now();
            r.did.push(format!(
                "froze {what} ({who}) for {}: its processes get no CPU, its sockets stay open",
                human::duration(d)
            ));
        }
    }
    Ok(())
}

/// Paused means a PING gets no answer while the pause (of `d`) lasts.
async fn paused(env: &dyn Environment, d: Duration) -> Result<Check> {
    let probe_for = (d / 2).min(Duration::from_millis(500));
    let quick = RedisProbe::new(&env.endpoints().redis_url, probe_for)?;
    let held = !quick.ping().await;
    Ok(Check::new(
        "Redis is paused",
        held,
        if held {
            format!("PING got no answer within {}", human::duration(probe_for))
        } else {
            "PING answered during the pause".to_owned()
        },
    ))
}

/// Whether Redis answers again once the pause was due to end; unpauses it (saying so in `did`)
/// when it does not.
async fn pause_ended(redis: &RedisProbe, style: PauseStyle, did: &mut Vec<String>) -> Check {
    let ended = match style {
        PauseStyle::ClientPause => "the pause ended by itself",
        PauseStyle::Freeze => "the pause ended",
    };
    let back = wait_until(Duration::from_secs(5), Duration::from_millis(10), || {
        redis.ping()
    })
    .await;
    match back {
        Some(after) => Check::new(
            ended,
            true,
            format!(
                "PING answered {} after the pause was due to end",
                human::duration(after)
            ),
        ),
        None => {
            let _ = redis
                .query::<String>(redis::cmd("CLIENT").arg("UNPAUSE"))
                .await;
            did.push("sent CLIENT UNPAUSE, since Redis stayed paused".to_owned());
            Check::new(
                ended,
                false,
                "no PING answer 5 s after the pause was due to end",
            )
        }
    }
}

/// Resumes a Redis left frozen (an interrupted `pause-redis` on an environment that freezes),
/// then verifies the stack.
pub(super) async fn undo_pause(env: &dyn Environment, fault: &Fault) -> Result<FaultReport> {
    let mut r = FaultReport::new(fault, "undo", "this is the undo of pause-redis");
    let paused = env
        .status()
        .await?
        .iter()
        .any(|s| s.component == Component::Redis && s.paused);
    if paused {
        env.resume(Component::Redis).await?;
        r.effective_now();
        r.did.push("resumed the frozen Redis".to_owned());
    } else {
        r.did.push(
            "nothing to do: Redis is not frozen (a CLIENT PAUSE ends by itself); verifying the stack"
                .to_owned(),
        );
    }
    r.checks = verify::whole(env).await;
    Ok(r)
}

/// The policy fields of the policies hash (the version left out).
async fn policy_fields(
    redis: &RedisProbe,
    key: &str,
) -> Result<(Option<String>, BTreeMap<String, String>)> {
    let mut all: BTreeMap<String, String> = redis.query(redis::cmd("HGETALL").arg(key)).await?;
    let version = all.remove(POLICY_VERSION_FIELD);
    Ok((version, all))
}

pub(super) async fn drop_policies(env: &dyn Environment, fault: &Fault) -> Result<FaultReport> {
    let mut r = FaultReport::new(
        fault,
        "inject",
        "undoes itself: running nodes write back the policies they hold in memory within ~250 ms \
         (verified below)",
    );
    let redis = verify::redis(env)?;
    let key = keys::policies_key(&env.endpoints().key_prefix);
    let (version, before) = policy_fields(&redis, &key).await?;
    let deleted: u64 = redis.query(redis::cmd("DEL").arg(&key)).await?;
    r.effective_now();
    r.did.push(format!(
        "deleted {key} ({} policies at version {}){}",
        before.len(),
        version.as_deref().unwrap_or("?"),
        if deleted == 0 {
            ": it was already missing"
        } else {
            ""
        }
    ));
    let present = verify::policies_present(&redis, &env.endpoints().key_prefix).await;
    let restored_after = r.instant.elapsed();
    r.checks.push(present);
    let (new_version, after) = policy_fields(&redis, &key).await?;
    let same = after == before && !after.is_empty();
    r.checks.push(Check::new(
        "the nodes restored the same policies",
        same,
        if same {
            format!(
                "{} policies back within {}, version {} -> {}",
                after.len(),
                human::duration(restored_after),
                version.as_deref().unwrap_or("?"),
                new_version.as_deref().unwrap_or("?")
            )
        } else {
            format!(
                "policies differ: before {:?}, after {:?}",
                before.keys().collect::<Vec<_>>(),
                after.keys().collect::<Vec<_>>()
            )
        },
    ));
    r.checks.push(verify::nodes_ready(env).await);
    Ok(r)
}

async fn cached_scripts(redis: &crate::probe::RedisProbe) -> Option<u64> {
    redis
        .info_field("memory", "number_of_cached_scripts")
        .await
        .ok()
        .flatten()
        .and_then(|v| v.parse().ok())
}

pub(super) async fn script_flush(env: &dyn Environment, fault: &Fault) -> Result<FaultReport> {
    let mut r = FaultReport::new(
        fault,
        "inject",
        "undoes itself: each node reloads its scripts when EVALSHA answers NOSCRIPT (verified below by a \
         decision on every node)",
    );
    let redis = verify::redis(env)?;
    let before = cached_scripts(&redis).await;
    redis
        .query::<String>(redis::cmd("SCRIPT").arg("FLUSH"))
        .await?;
    r.effective_now();
    r.did.push(format!(
        "SCRIPT FLUSH: dropped the {} cached Lua scripts",
        before.map_or_else(|| "?".to_owned(), |n| n.to_string())
    ));
    let probe = verify::nodes(env)?;
    let mut failures = Vec::new();
    let urls = env.endpoints().nodes;
    for (i, url) in urls.iter().enumerate() {
        match probe.check(url, "chaos:script-flush").await {
            Ok((_, d)) if d.degraded.is_none() => {}
            Ok((_, d)) => failures.push(format!(
                "node-{} decided by its failure mode {:?}",
                i + 1,
                d.degraded
            )),
            Err(e) => failures.push(format!("node-{}: {e}", i + 1)),
        }
    }
    r.checks.push(Check::new(
        "every node still decides through Redis",
        failures.is_empty(),
        if failures.is_empty() {
            format!(
                "a check on each of the {} nodes was decided by Redis",
                urls.len()
            )
        } else {
            failures.join("; ")
        },
    ));
    let after = cached_scripts(&redis).await;
    let reloaded = after.is_some_and(|n| n >= 1);
    r.checks.push(Check::new(
        "the scripts are cached again",
        reloaded,
        format!(
            "{} scripts cached",
            after.map_or_else(|| "?".to_owned(), |n| n.to_string())
        ),
    ));
    Ok(r)
}
