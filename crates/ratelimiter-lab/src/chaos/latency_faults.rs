//! `slow-redis`: Redis answers, late. A client of its own runs busy Lua scripts of the given
//! latency back to back for the duration: Redis runs one script at a time, so every other
//! command waits for the script in progress (up to the latency), and none fails. A node whose
//! Redis timeout is shorter gives up at its timeout and decides by its failure mode.

use std::time::Duration;

use tokio::time::Instant;

use super::fault::Fault;
use super::report::{Check, FaultReport};
use super::verify;
use crate::environment::Environment;
use crate::error::{Error, Result};
use crate::human;
use crate::probe::RedisProbe;

/// A script that spins on `TIME` for `ARGV[1]` microseconds.
const BUSY: &str = "local function us() local t = redis.call('TIME') \
                    return t[1] * 1000000 + t[2] end \
                    local s = us() while us() - s < tonumber(ARGV[1]) do end return 1";

/// Runs busy scripts of `latency` back to back until `until`; returns how many ran.
async fn busy(url: &str, latency: Duration, until: Instant) -> Result<u64> {
    let client = redis::Client::open(url)?;
    let timeout = latency + Duration::from_secs(2);
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout));
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await?;
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

/// The slowest of a few PINGs sent while the scripts run, each timed from its own connection.
async fn slowest_ping(url: &str, latency: Duration) -> Result<Duration> {
    let probe = RedisProbe::new(url, latency + Duration::from_secs(2))?;
    let mut slowest = Duration::ZERO;
    for _ in 0..5 {
        tokio::time::sleep(latency / 3).await;
        let t = Instant::now();
        probe.query::<String>(&redis::cmd("PING")).await?;
        slowest = slowest.max(t.elapsed());
    }
    Ok(slowest)
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
            "undoes itself: the scripts stop after {} (verified below)",
            human::duration(duration)
        ),
    );
    let url = env.endpoints().redis_url;
    r.effective_now();
    let until = Instant::now() + duration;
    let (runs, ping) = tokio::join!(busy(&url, latency, until), slowest_ping(&url, latency));
    let runs = runs?;
    r.did.push(format!(
        "ran {runs} busy scripts of {} back to back for {}",
        human::duration(latency),
        human::duration(duration)
    ));
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
