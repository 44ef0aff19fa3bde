//! `operator demo ratelimit` as a library: the whole point of the project in one run.
//!
//! The caller brings an [`Environment`] up (a [`LocalEnv`](crate::LocalEnv), a
//! [`ComposeEnv`](crate::ComposeEnv)), and tears it down afterwards with [`teardown`] (and on
//! failure: both can tear themselves down on drop). On it, [`run`] starts steady load (the bench
//! engine) and drives the rate limiter's [`MonitorLoop`] in-process on its usual interval, so
//! every timing is measured here, between the instant a fault took effect and the tick that
//! reported it. Then five chapters, through the environment's verbs only:
//!
//! 1. healthy baseline: no violation for a few seconds under load;
//! 2. Redis killed: `redis_healthy` reported; what the nodes decided meanwhile;
//! 3. Redis restarted empty: `config_loaded` reported, nodes re-seed, everything resolves;
//! 4. stuck keys: `no_stuck_keys` reported, `repair_stuck_keys` run through the subject,
//!    re-observed clear;
//! 5. a node killed and restarted: `node_down` for that node only, then resolved;
//! 6. on a local stack only (the nodes restarted with other flags), seed 003's naive mode
//!    (`naive_chapter`): the same burst of concurrent checks of one key admitted exactly by the
//!    atomic nodes and past the limit in `--limiter-mode naive`, `over_admission` reported
//!    naming the mode, resolved once the nodes are atomic again.
//!
//! On a Redis Cluster stack (`--redis cluster`) the demo runs the baseline, then chapter 2 "a
//! Redis primary killed" (`cluster_chapter`: the failover reported, the nodes keep deciding,
//! exact limits resume; its row shows the time until exact limiting resumed) instead of the
//! single-Redis chapters.
//!
//! A summary table follows. [`begin`], [`stack_up`] and [`teardown`] narrate what the caller
//! does around [`run`].
//!
//! Layout: `chapters` (the five chapters), `story` (the running context: ticks, events,
//! narration), [`narrate`] (what is told, and the text and JSON sinks), [`summary`] (results and
//! table), `load` (the background load).

mod chapters;
mod cluster_chapter;
pub(crate) mod load;
mod naive_chapter;
pub mod narrate;
pub(crate) mod story;
pub mod summary;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use operator_core::{MonitorConfig, MonitorLoop, TicketStore};
use operator_ratelimiter::RateLimiterChecker;
use tokio::time::Instant;

pub use narrate::{JsonNarrator, Narration, Narrator, TextNarrator};
pub use summary::{ChapterResult, LoadTally};

use crate::chaos::Fault;
use crate::environment::{DownReport, Environment};
use crate::error::{Error, Result};
use crate::human;
use story::Ctx;

/// How the demo runs, whatever the environment. [`Default`] gives a 500 ms monitor interval (the
/// rate limiter's usual one) and about a minute and a half in all.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoConfig {
    /// The ticket database.
    pub db: PathBuf,
    /// Delete `db` first (it is the demo's own).
    pub fresh_db: bool,
    /// Checks per second of the background load.
    pub load_rate: f64,
    /// Time between observations.
    pub interval: Duration,
    /// Bound on one observation.
    pub observe_timeout: Duration,
    /// Length of the healthy baseline.
    pub baseline: Duration,
    /// Keys written by the stuck-keys chapter.
    pub stuck_keys: u64,
    /// The node killed in chapter 5 (1-based).
    pub node: usize,
    /// Longest wait for each expected outcome.
    pub deadline: Duration,
}

impl Default for DemoConfig {
    fn default() -> Self {
        Self {
            db: PathBuf::from("demo-tickets.db"),
            fresh_db: true,
            load_rate: 240.0,
            interval: Duration::from_millis(500),
            observe_timeout: Duration::from_secs(2),
            baseline: Duration::from_secs(5),
            stuck_keys: 20,
            node: 2,
            deadline: Duration::from_secs(15),
        }
    }
}

impl DemoConfig {
    /// Checks every setting.
    ///
    /// # Errors
    /// [`Error::Config`] naming the bad setting.
    pub fn validate(&self) -> Result<()> {
        if self.node == 0 {
            return Err(Error::Config("node to kill: nodes count from 1".into()));
        }
        if !(self.load_rate > 0.0 && self.load_rate.is_finite()) {
            return Err(Error::Config("load rate must be positive".into()));
        }
        if self.interval.is_zero() || self.deadline.is_zero() || self.stuck_keys == 0 {
            return Err(Error::Config(
                "interval, deadline and stuck keys must be positive".into(),
            ));
        }
        Ok(())
    }
}

/// Waits between chapters (`--step`), or not.
#[async_trait]
pub trait Pacer: Send {
    /// Called before chapter `chapter` begins.
    async fn before(&mut self, chapter: usize);
}

/// Never waits.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoPause;

#[async_trait]
impl Pacer for NoPause {
    async fn before(&mut self, _chapter: usize) {}
}

/// How the demo went.
#[derive(Debug, Clone)]
pub struct DemoOutcome {
    /// One result per chapter run (an interrupted or failed chapter included).
    pub chapters: Vec<ChapterResult>,
    /// Interrupted by the shutdown signal.
    pub interrupted: bool,
    /// Whether teardown left nothing running.
    pub clean_teardown: bool,
    /// How long it took.
    pub took: Duration,
    /// How many chapters the story has (5; 2 on a Redis Cluster).
    pub expected_chapters: usize,
}

impl DemoOutcome {
    /// Whether every chapter saw what it expected, and nothing was left behind.
    pub fn ok(&self) -> bool {
        !self.interrupted
            && self.clean_teardown
            && self.chapters.len() == self.expected_chapters
            && self.chapters.iter().all(|c| c.ok)
    }

    /// `chapter N (title): outcome` for each failed chapter, and any interruption.
    pub fn failures(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .chapters
            .iter()
            .filter(|c| !c.ok)
            .map(|c| format!("chapter {} ({}): {}", c.chapter, c.title, c.outcome))
            .collect();
        if self.interrupted && !self.chapters.iter().any(|c| c.outcome == "interrupted") {
            out.push("interrupted".to_owned());
        }
        if !self.clean_teardown {
            out.push("teardown left processes, containers or ports behind".to_owned());
        }
        out
    }
}

/// Narrates the beginning of the demo, before the caller brings its environment up.
pub fn begin(
    config: &DemoConfig,
    environment: &str,
    state_dir: &Path,
    narrator: &mut dyn Narrator,
) {
    narrator.narrate(&Narration::Begin {
        at: Utc::now(),
        environment: environment.to_owned(),
        state_dir: state_dir.display().to_string(),
        db: config.db.display().to_string(),
        load: load::describe_rate(config.load_rate),
    });
}

/// Narrates that the caller's environment is up, `took` after it began.
///
/// # Errors
/// When the environment cannot report its status.
pub async fn stack_up(
    env: &dyn Environment,
    took: Duration,
    narrator: &mut dyn Narrator,
) -> Result<()> {
    narrator.narrate(&Narration::StackUp {
        at: Utc::now(),
        environment: env.kind().to_owned(),
        took_ms: human::millis(took),
        components: env.status().await?,
    });
    Ok(())
}

/// Runs the demo on `env`, which the caller brought up: load, monitor, five chapters, summary.
/// `shutdown` (Ctrl-C) stops it early. The caller tears the environment down afterwards
/// ([`teardown`]), whatever the outcome.
///
/// # Errors
/// When the configuration does not fit the environment (the node to kill), or the ticket
/// database cannot be opened. What fails later is reported in the outcome.
pub async fn run(
    config: DemoConfig,
    env: &dyn Environment,
    narrator: &mut dyn Narrator,
    pacer: &mut dyn Pacer,
    shutdown: impl Future<Output = ()>,
) -> Result<DemoOutcome> {
    config.validate()?;
    let nodes = env.endpoints().nodes;
    if config.node > nodes.len() {
        return Err(Error::Config(format!(
            "node {} to kill: the stack has nodes 1 to {}",
            config.node,
            nodes.len()
        )));
    }
    let started = Instant::now();
    if config.fresh_db {
        story::remove_db(&config.db);
    }
    let store = Arc::new(TicketStore::open(&config.db)?);
    let load_config = load::config(&nodes, config.load_rate);

    let mut results = Vec::new();
    let mut interrupted = false;
    let story = story(
        &config,
        env,
        store,
        load_config,
        narrator,
        pacer,
        &mut results,
    );
    let error = tokio::select! {
        r = story => r.err(),
        () = shutdown => {
            interrupted = true;
            None
        }
    };
    if let Some(e) = &error
        && let Some(last) = results.last_mut()
    {
        last.ok = false;
        last.outcome = format!("error: {e}");
    }
    if interrupted && let Some(last) = results.last_mut().filter(|r| r.outcome.is_empty()) {
        last.outcome = "interrupted".to_owned();
    }
    let outcome = DemoOutcome {
        chapters: results,
        interrupted,
        clean_teardown: false,
        took: started.elapsed(),
        expected_chapters: if env.endpoints().redis_is_cluster() {
            2
        } else if env.kind() == "local" {
            6
        } else {
            5
        },
    };
    let mut failed = outcome.failures();
    failed.retain(|f| !f.starts_with("teardown"));
    if let Some(e) = &error
        && outcome.chapters.is_empty()
    {
        failed.push(format!("error: {e}"));
    }
    narrator.narrate(&Narration::Summary {
        at: Utc::now(),
        ok: failed.is_empty(),
        chapters: outcome.chapters.clone(),
        failed,
        took_ms: human::millis(outcome.took),
    });
    Ok(outcome)
}

/// Tears `env` down after [`run`], narrates it, and records in `outcome` whether nothing was
/// left behind.
///
/// # Errors
/// When the environment cannot be taken down.
pub async fn teardown(
    env: &dyn Environment,
    outcome: &mut DemoOutcome,
    narrator: &mut dyn Narrator,
) -> Result<DownReport> {
    let down = env.down().await?;
    outcome.clean_teardown = down.clean();
    narrator.narrate(&Narration::Teardown {
        at: Utc::now(),
        report: down.clone(),
    });
    Ok(down)
}

/// The chapters in order, each result pushed as soon as it begins (so an interruption or an
/// error is attributed to the chapter it happened in).
async fn story(
    config: &DemoConfig,
    env: &dyn Environment,
    store: Arc<TicketStore>,
    load_config: ratelimiter_bench::LoadConfig,
    narrator: &mut dyn Narrator,
    pacer: &mut dyn Pacer,
    results: &mut Vec<ChapterResult>,
) -> Result<()> {
    let cluster = env.endpoints().redis_is_cluster();
    let subject = story::subject(env)?;
    let monitor_config = MonitorConfig::default()
        .interval(config.interval)
        .observe_timeout(config.observe_timeout);
    let monitor = MonitorLoop::new(
        subject,
        RateLimiterChecker::default(),
        store,
        monitor_config,
    )?;
    let load = load::Load::start(load_config)?;
    let mut ctx = Ctx::new(
        env,
        monitor,
        config.interval,
        narrator,
        load,
        config.deadline,
    );

    let titles = [
        ("healthy baseline", "-".to_owned()),
        ("Redis killed", Fault::KillRedis.to_string()),
        ("Redis restarted empty", Fault::RestartRedis.to_string()),
        (
            "stuck keys injected",
            Fault::StuckKeys(config.stuck_keys).to_string(),
        ),
        (
            "a node killed and restarted",
            Fault::KillNode(config.node).to_string(),
        ),
    ];
    let placeholder = |i: usize| {
        let (title, fault) = &titles[i];
        ChapterResult::new(i + 1, title, fault)
    };

    let set_last = |results: &mut Vec<ChapterResult>, r: ChapterResult| {
        if let Some(last) = results.last_mut() {
            *last = r;
        }
    };

    pacer.before(1).await;
    results.push(placeholder(0));
    let r = chapters::baseline(&mut ctx, config.baseline).await?;
    set_last(results, r);

    if cluster {
        pacer.before(2).await;
        results.push(ChapterResult::new(
            2,
            cluster_chapter::TITLE,
            &Fault::KillRedisPrimary(1).to_string(),
        ));
        let r = cluster_chapter::primary_killed(&mut ctx, 2).await?;
        set_last(results, r);
        ctx.load.stop().await;
        return Ok(());
    }

    pacer.before(2).await;
    results.push(placeholder(1));
    let (r, outage_from) = chapters::redis_killed(&mut ctx).await?;
    set_last(results, r);

    pacer.before(3).await;
    results.push(placeholder(2));
    let (r, redis_back) = chapters::redis_restarted(&mut ctx, outage_from).await?;
    set_last(results, r);
    // Chapter 2's outage ends when Redis is back and redis_healthy resolves.
    if let Some(row) = results.get_mut(1) {
        row.recovered_after_ms = redis_back;
    }

    pacer.before(4).await;
    results.push(placeholder(3));
    let r = chapters::stuck_keys(&mut ctx, config.stuck_keys).await?;
    set_last(results, r);

    pacer.before(5).await;
    results.push(placeholder(4));
    let r = chapters::node_killed(&mut ctx, config.node).await?;
    set_last(results, r);

    // Seed 003's teaching mode restarts the nodes with other flags: local stacks only.
    if env.kind() == "local" {
        pacer.before(6).await;
        results.push(ChapterResult::new(
            6,
            naive_chapter::TITLE,
            &Fault::NaiveMode.to_string(),
        ));
        let r = naive_chapter::naive_mode(&mut ctx, 6).await?;
        set_last(results, r);
    }

    ctx.load.stop().await;
    Ok(())
}
