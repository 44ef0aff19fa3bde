//! [`run`]: the eval on an environment the caller brought up: steady load, the monitor loop
//! driven in-process, the soak, then every trial of every fault, reported as it ends.

use std::future::Future;
use std::sync::Arc;

use operator_core::{
    Agent, Diagnosable, MonitorConfig, MonitorLoop, OfflineDiagnoser, TicketStore,
};
use operator_ratelimiter::RateLimiterChecker;
use ratelimiter_bench::KeyPattern;

use super::config::EvalConfig;
use super::report::{EvalReport, FaultSummary, Settings, TrialRecord};
use super::timeline::Timeline;
use super::trial::{self, Tools};
use crate::demo::TextNarrator;
use crate::demo::load::{self, Load};
use crate::demo::story::{Ctx, remove_db, subject};
use crate::environment::Environment;
use crate::error::{Error, Result};
use crate::human;

/// What the eval tells as it goes.
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    /// The soak ended, with the tickets it saw.
    Soak {
        /// Whether the stack looked healthy before it.
        healthy: bool,
        /// Tickets opened, `invariant[entity]`.
        opened: &'a [String],
        /// What happened meanwhile, one line per step (the tickets' events with their
        /// messages), as the demo tells it.
        timeline: &'a [String],
    },
    /// A trial ended.
    Trial(&'a TrialRecord),
}

/// Runs the eval on `env`, which the caller brought up and tears down afterwards. `progress`
/// hears of the soak and of each trial as it ends; `shutdown` (Ctrl-C) stops the run early, with
/// the trials done so far reported.
///
/// # Errors
/// When the configuration does not fit the environment (a partition without a network of its
/// own, a node it does not have), or the ticket database cannot be opened. What fails later is
/// reported in [`EvalReport::stopped`] or in the trials.
pub async fn run(
    config: EvalConfig,
    env: &dyn Environment,
    progress: &mut (dyn FnMut(Progress<'_>) + Send),
    shutdown: impl Future<Output = ()>,
) -> Result<EvalReport> {
    config.validate()?;
    let endpoints = env.endpoints();
    let has_network = env.kind() == "compose";
    let cluster = endpoints.redis_is_cluster();
    for f in &config.faults {
        if let Some(why) = f.expectation().refusal(has_network, cluster) {
            return Err(Error::Config(format!("eval: {f} {why}")));
        }
        if let Some(n) = f.expectation().fires.and_then(|x| x.node()) {
            endpoints.node(n)?;
        }
    }
    if config.fresh_db {
        remove_db(&config.db);
    }
    let store = Arc::new(TicketStore::open(&config.db)?);
    let mut report = EvalReport {
        settings: settings(&config, env.kind(), cluster),
        false_tickets: 0,
        faults: Vec::new(),
        soak_tickets: Vec::new(),
        soak_unhealthy: false,
        trials: Vec::new(),
        stopped: None,
    };
    let body = body(&config, env, store, progress, &mut report);
    let stopped = tokio::select! {
        r = body => r.err().map(|e| format!("error: {e}")),
        () = shutdown => Some("interrupted".to_owned()),
    };
    report.stopped = stopped;
    report.faults = config
        .faults
        .iter()
        .map(|f| {
            let name = f.to_string();
            let trials: Vec<&TrialRecord> =
                report.trials.iter().filter(|t| t.fault == name).collect();
            FaultSummary::of(&name, &trials)
        })
        .collect();
    Ok(report)
}

/// The load, the monitor, the soak and the trials, each result pushed into `report` as soon as
/// it is known (so an interruption keeps what was done).
async fn body(
    config: &EvalConfig,
    env: &dyn Environment,
    store: Arc<TicketStore>,
    progress: &mut (dyn FnMut(Progress<'_>) + Send),
    report: &mut EvalReport,
) -> Result<()> {
    let monitor_config = MonitorConfig::default()
        .interval(config.interval)
        .observe_timeout(config.observe_timeout);
    let monitor = MonitorLoop::new(
        subject(env)?,
        RateLimiterChecker::default(),
        Arc::clone(&store),
        monitor_config,
    )?;
    let diagnosis_subject = subject(env)?;
    let agent = match &config.agent {
        Some(a) => Some(Agent::new(
            Arc::clone(&store),
            Arc::new(OfflineDiagnoser::new(diagnosis_subject.rules())),
            a.clone().observe_timeout(config.observe_timeout),
        )?),
        None => None,
    };
    let timeline = Timeline::default();
    let mut tools = Tools {
        diagnoser: OfflineDiagnoser::new(diagnosis_subject.rules()),
        subject: diagnosis_subject,
        checker: RateLimiterChecker::default(),
        store,
        agent,
        observe_timeout: config.observe_timeout,
        timeline: timeline.clone(),
    };
    let mut load_config = load::config(&env.endpoints().nodes, config.load_rate);
    load_config.keys = KeyPattern::Mixed {
        hot: format!("eval:{}:hot", config.seed),
        hot_fraction: 0.5,
        tail: 500,
    };
    let load = Load::start(load_config)?;
    let mut narrator = TextNarrator::new(timeline, false);
    let mut ctx = Ctx::new(
        env,
        monitor,
        config.interval,
        &mut narrator,
        load,
        config.deadline,
    );
    if !config.soak.is_zero() {
        let (healthy, opened) = soak(&mut ctx, config).await?;
        let timeline = tools.timeline.take();
        report.soak_unhealthy = !healthy;
        report.false_tickets = opened.len();
        progress(Progress::Soak {
            healthy,
            opened: &opened,
            timeline: &timeline,
        });
        report.soak_tickets = opened;
    }
    for fault in &config.faults {
        for n in 1..=config.trials {
            let record = trial::run(&mut ctx, &mut tools, *fault, n).await?;
            progress(Progress::Trial(&record));
            report.trials.push(record);
        }
    }
    ctx.load.stop().await;
    Ok(())
}

/// The healthy run before the trials: waits for a clean observation, then counts the tickets
/// opened for the soak's length. Returns whether it started healthy, and those tickets.
async fn soak(ctx: &mut Ctx<'_>, config: &EvalConfig) -> Result<(bool, Vec<String>)> {
    ctx.begin(
        0,
        "soak",
        "-",
        &format!(
            "no ticket for {} under steady load",
            human::duration(config.soak)
        ),
    );
    let healthy = ctx.until(config.deadline, Ctx::healthy).await?;
    let from = ctx.seen.len();
    ctx.observe_for(config.soak).await?;
    let opened = ctx.seen[from..]
        .iter()
        .filter(|s| matches!(s.event, operator_core::Event::Opened { .. }))
        .map(|s| s.what())
        .collect();
    Ok((healthy, opened))
}

fn settings(config: &EvalConfig, env: &str, cluster: bool) -> Settings {
    Settings {
        subject: "ratelimit".to_owned(),
        env: env.to_owned(),
        redis: if cluster { "cluster" } else { "single" }.to_owned(),
        trials: config.trials,
        faults: config.faults.iter().map(ToString::to_string).collect(),
        soak_ms: human::millis(config.soak),
        agent: config
            .agent
            .as_ref()
            .map_or_else(|| "off".to_owned(), |a| a.mode.to_string()),
        allow: config
            .agent
            .as_ref()
            .map(|a| a.allow.iter().cloned().collect())
            .unwrap_or_default(),
        seed: config.seed,
        load_rate: config.load_rate,
        interval_ms: human::millis(config.interval),
        deadline_ms: human::millis(config.deadline),
    }
}
