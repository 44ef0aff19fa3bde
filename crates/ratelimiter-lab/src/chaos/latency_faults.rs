//! `slow-redis`: Redis answers, late. A client of its own runs busy Lua scripts of the given
//! latency back to back for the duration: Redis runs one script at a time, so every other
//! command waits for the script in progress (up to the latency), and none fails.
//!
//! A node whose Redis timeout (`--redis-timeout-ms`, 50 ms by default) is shorter than the
//! latency does not wait: it gives up, its breaker opens, and it decides by its failure mode,
//! which is Redis *down* for it (`over_admission`, `node_down`). To show a Redis that is slow
//! for the nodes, the fault restarts them with a timeout above the latency for its duration
//! (local only), then with their usual flags.

use std::time::Duration;

use tokio::time::Instant;

use super::fault::Fault;
use super::node_faults;
use super::report::{Check, FaultReport};
use super::verify;
use crate::environment::Environment;
use crate::error::{Error, Result};
use crate::human;

/// A script that spins on `TIME` for `ARGV[1]` microseconds.
const BUSY: &str = "local function us() local t = redis.call('TIME') \
                    return t[1] * 1000000 + t[2] end \
                    local s = us() while us() - s < tonumber(ARGV[1]) do end return 1";

/// A connection of its own to `url`, each reply waited for up to `timeout`.
async fn connect(url: &str, timeout: Duration) -> Result<redis::aio::MultiplexedConnection> {
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout));
    Ok(redis::Client::open(url)?
        .get_multiplexed_async_connection_with_config(&config)
        .await?)
}

/// Runs busy scripts of `latency` back to back until `until`; returns how many ran.
async fn busy(url: &str, latency: Duration, until: Instant) -> Result<u64> {
    let mut conn = connect(url, latency + Duration::from_secs(2)).await?;
    let script = redis::Script::new(BUSY);
    let mut runs = 0u64;
    while Instant::now() < until {
        script
            .arg(latency.as_micros().to_string())
            .invoke_async::<i64>(&mut conn)
            .await?;
        runs += 1;
    }
    Ok(runs)
}

/// The slowest of a few PINGs sent on a connection of their own while the scripts run.
async fn slowest_ping(url: &str, latency: Duration) -> Result<Duration> {
    let mut conn = connect(url, latency + Duration::from_secs(2)).await?;
    let mut slowest = Duration::ZERO;
    for _ in 0..5 {
        tokio::time::sleep(latency / 3).await;
        let t = Instant::now();
        redis::cmd("PING").query_async::<String>(&mut conn).await?;
        slowest = slowest.max(t.elapsed());
    }
    Ok(slowest)
}

/// The Redis timeout the nodes get during `slow-redis`: well above `latency`, so that their
/// decisions wait for Redis (slow) instead of giving up into their failure mode (down).
fn patient_timeout(latency: Duration) -> Duration {
    (latency * 2).max(latency + Duration::from_millis(100))
}

pub(super) async fn slow(
    env: &dyn Environment,
    fault: &Fault,
    latency: Duration,
    duration: Duration,
) -> Result<FaultReport> {
    if env.endpoints().redis_is_cluster() {
        return Err(Error::Fault(
            "slow-redis acts on a single Redis server; this stack runs a Redis Cluster".into(),
        ));
    }
    let mut r = FaultReport::new(
        fault,
        "inject",
        format!(
            "undoes itself: the scripts stop after {}, the nodes get their usual flags back \
             (verified below)",
            human::duration(duration)
        ),
    );
    let nodes = env.endpoints().nodes.len();
    let timeout = patient_timeout(latency).as_millis().to_string();
    for n in 1..=nodes {
        node_faults::restart_with(env, &mut r, n, &[("--redis-timeout-ms", &timeout)]).await?;
    }
    let url = env.endpoints().redis_url;
    r.effective_now();
    let until = Instant::now() + duration;
    let (runs, ping) = tokio::join!(busy(&url, latency, until), slowest_ping(&url, latency));
    r.did.push(format!(
        "ran {} busy scripts of {} back to back for {}",
        runs.as_ref().map_or(0, |n| *n),
        human::duration(latency),
        human::duration(duration)
    ));
    // The nodes get their usual flags back even when the scripts failed.
    for n in 1..=nodes {
        node_faults::restart_with(env, &mut r, n, &[]).await?;
    }
    runs?;
    let (ok, detail) = match ping {
        Ok(d) => (
            d >= latency / 4,
            format!("the slowest of 5 PINGs took {}", human::duration(d)),
        ),
        Err(e) => (false, e.to_string()),
    };
    r.checks.push(Check::new(
        format!("Redis answered late (up to {})", human::duration(latency)),
        ok,
        detail,
    ));
    r.checks.extend(verify::whole(env).await);
    Ok(r)
}

/// Gives back their usual flags to the nodes an interrupted `slow-redis` left with a longer
/// Redis timeout, and verifies the stack.
pub(super) async fn undo_slow(env: &dyn Environment, fault: &Fault) -> Result<FaultReport> {
    let mut r = FaultReport::new(fault, "undo", "this is the undo of slow-redis");
    for n in 1..=env.endpoints().nodes.len() {
        let c = crate::environment::Component::Node(n);
        if env
            .overrides(c)
            .iter()
            .any(|(f, _)| f == "--redis-timeout-ms")
        {
            node_faults::restart_with(env, &mut r, n, &[]).await?;
        }
    }
    if r.did.is_empty() {
        r.did.push(
            "nothing to do: every node runs with its usual flags; verifying the stack".into(),
        );
    }
    r.checks.extend(verify::whole(env).await);
    Ok(r)
}
