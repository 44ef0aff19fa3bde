//! The engine: spawn the workers, collect a [`SecondStats`] every second, stop at the end of the
//! duration or on `shutdown`, and summarise.

use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};

use crate::config::LoadConfig;
use crate::error::LoadError;
use crate::oracle::{OraclePolicy, OracleReport, Sample, analyse};
use crate::report::{LoadReport, Percentiles, SecondStats};
use crate::target::parse_target;
use crate::worker::{Tally, Worker};

/// Runs `config` until its duration ends or `shutdown` completes, calling `on_second` with each
/// second's figures.
///
/// # Errors
/// [`LoadError`] when the configuration is invalid. Request failures are counted, not returned.
pub async fn run(
    config: LoadConfig,
    shutdown: impl Future<Output = ()>,
    on_second: impl FnMut(&SecondStats),
) -> Result<LoadReport, LoadError> {
    Ok(run_tracked(config, false, shutdown, on_second).await?.0)
}

/// [`run`], and what it admitted against the exact oracle of `policy` (one window for every
/// key; see [`crate::oracle`]). Every answer is recorded, which costs the load generator a
/// little CPU.
///
/// # Errors
/// As [`run`].
pub async fn run_with_oracle(
    config: LoadConfig,
    policy: OraclePolicy,
    shutdown: impl Future<Output = ()>,
    on_second: impl FnMut(&SecondStats),
) -> Result<(LoadReport, OracleReport), LoadError> {
    let cost = config.cost.unwrap_or(1);
    let (report, samples) = run_tracked(config, true, shutdown, on_second).await?;
    Ok((report, analyse(samples, policy, cost)))
}

async fn run_tracked(
    config: LoadConfig,
    track: bool,
    shutdown: impl Future<Output = ()>,
    mut on_second: impl FnMut(&SecondStats),
) -> Result<(LoadReport, Vec<Sample>), LoadError> {
    config.validate()?;
    let addrs = config
        .targets
        .iter()
        .map(|t| parse_target(t))
        .collect::<Result<Vec<_>, _>>()?;
    let config = Arc::new(config);
    let (stop_tx, stop_rx) = watch::channel(false);
    let start = Instant::now();
    let mut tallies = Vec::new();
    let mut tasks = Vec::new();
    for index in 0..config.workers() {
        let tally = Arc::new(Mutex::new(Tally::new()));
        tallies.push(tally.clone());
        let worker = Worker {
            index,
            addr: addrs[index % addrs.len()].clone(),
            config: config.clone(),
            tally,
            stop: stop_rx.clone(),
            start,
            track,
        };
        tasks.push(tokio::spawn(worker.run()));
    }

    let mut total = Tally::new();
    let mut per_second = Vec::new();
    let mut tick = tokio::time::interval_at(
        start + std::time::Duration::from_secs(1),
        std::time::Duration::from_secs(1),
    );
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let end = tokio::time::sleep_until(start + config.duration);
    tokio::pin!(end);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let s = collect(&tallies, &mut total, per_second.len() as u64 + 1);
                on_second(&s);
                per_second.push(s);
            }
            () = &mut end => break,
            () = &mut shutdown => break,
        }
    }
    let elapsed = start.elapsed();
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = t.await;
    }
    let last = collect(&tallies, &mut total, per_second.len() as u64 + 1);
    if last.allowed + last.denied + last.errors > 0 {
        per_second.push(last);
    }
    let decisions = total.allowed + total.denied;
    let samples = std::mem::take(&mut total.samples);
    let report = LoadReport {
        elapsed,
        allowed: total.allowed,
        denied: total.denied,
        errors: total.errors,
        error_kinds: total.error_kinds,
        decisions_per_sec: decisions as f64 / elapsed.as_secs_f64().max(1e-9),
        latency: Percentiles::of(&total.latency),
        per_second,
    };
    Ok((report, samples))
}

/// Takes every worker's figures since the last call, adds them to `total`, and returns them.
fn collect(tallies: &[Arc<Mutex<Tally>>], total: &mut Tally, second: u64) -> SecondStats {
    let mut this = Tally::new();
    for tally in tallies {
        let mut t = tally
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let taken = std::mem::replace(&mut *t, Tally::new());
        drop(t);
        merge(&mut this, &taken);
    }
    merge(total, &this);
    SecondStats {
        second,
        allowed: this.allowed,
        denied: this.denied,
        errors: this.errors,
        latency: Percentiles::of(&this.latency),
    }
}

fn merge(into: &mut Tally, from: &Tally) {
    into.allowed += from.allowed;
    into.denied += from.denied;
    into.errors += from.errors;
    for (k, v) in &from.error_kinds {
        *into.error_kinds.entry(k.clone()).or_insert(0) += v;
    }
    let _ = into.latency.add(&from.latency);
    into.samples.extend_from_slice(&from.samples);
}
