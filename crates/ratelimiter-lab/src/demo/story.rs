//! The demo's running context: the monitor loop driven tick by tick on its interval (also
//! while a fault runs), every ticket event recorded with the instant it was seen, and narration.

use std::future::Future;
use std::time::Duration;

use chrono::Utc;
use operator_core::{ActionReport, Event, MonitorLoop, Subject, TickReport};
use operator_ratelimiter::{
    RateLimitAction, RateLimiterChecker, RateLimiterConfig, RateLimiterSubject, RedisMode,
};
use tokio::time::Instant;

use super::load::Load;
use super::narrate::{Narration, Narrator};
use super::summary::ChapterResult;
use crate::chaos::FaultReport;
use crate::environment::Environment;
use crate::error::Result;
use crate::human;

/// The rate-limiter subject of the stack of `env`, with its admin token.
///
/// # Errors
/// When the endpoints do not make a valid subject configuration.
pub(crate) fn subject(env: &dyn Environment) -> Result<RateLimiterSubject> {
    let e = env.endpoints();
    Ok(RateLimiterSubject::new(RateLimiterConfig {
        redis_mode: if e.redis_is_cluster() {
            RedisMode::Cluster
        } else {
            RedisMode::Single
        },
        // Long enough to be seen, short enough to resolve within a chapter (or a trial).
        failover_memory: Duration::from_secs(5),
        redis_url: e.redis_url.clone(),
        nodes: e.nodes.clone(),
        key_prefix: e.key_prefix.clone(),
        node_token: e.node_token.as_ref().map(|t| t.expose().to_owned()),
        ..RateLimiterConfig::default()
    })?)
}

/// Deletes a ticket database of the demo's (or the eval's) own, with its journal files.
pub(crate) fn remove_db(db: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = db.to_path_buf().into_os_string();
        p.push(suffix);
        let _ = std::fs::remove_file(std::path::PathBuf::from(p));
    }
}

/// A ticket event and when the demo saw it.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    /// When the tick that produced it finished.
    pub(crate) instant: Instant,
    /// The event.
    pub(crate) event: Event,
}

impl Seen {
    /// `invariant[entity]` of the event.
    pub(crate) fn what(&self) -> String {
        match &self.event {
            Event::Opened { violation, .. } | Event::Escalated { violation, .. } => {
                violation.key().to_string()
            }
            Event::Resolved { key, .. } | Event::ClearedWhileHeld { key, .. } => key.to_string(),
        }
    }

    pub(crate) fn is_opened(&self, what: &str) -> bool {
        matches!(self.event, Event::Opened { .. }) && self.what() == what
    }

    pub(crate) fn is_resolved(&self, what: &str) -> bool {
        matches!(self.event, Event::Resolved { .. }) && self.what() == what
    }
}

/// Everything a chapter works with.
pub(crate) struct Ctx<'a> {
    pub(crate) env: &'a dyn Environment,
    monitor: MonitorLoop<RateLimiterSubject, RateLimiterChecker>,
    interval: Duration,
    next: Instant,
    narrator: &'a mut dyn Narrator,
    pub(crate) load: Load,
    /// Every ticket event so far.
    pub(crate) seen: Vec<Seen>,
    /// The last tick's report.
    pub(crate) last: Option<TickReport>,
    chapter: usize,
    chapter_start: Instant,
    /// Index in `seen` where the current chapter starts.
    pub(crate) chapter_from: usize,
    /// How long to wait for an expected outcome.
    pub(crate) deadline: Duration,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(
        env: &'a dyn Environment,
        monitor: MonitorLoop<RateLimiterSubject, RateLimiterChecker>,
        interval: Duration,
        narrator: &'a mut dyn Narrator,
        load: Load,
        deadline: Duration,
    ) -> Self {
        Self {
            env,
            monitor,
            interval,
            next: Instant::now(),
            narrator,
            load,
            seen: Vec::new(),
            last: None,
            chapter: 0,
            chapter_start: Instant::now(),
            chapter_from: 0,
            deadline,
        }
    }

    fn t_ms(&self) -> u64 {
        human::millis(self.chapter_start.elapsed())
    }

    /// Milliseconds from `from` to `to`.
    pub(crate) fn between(from: Instant, to: Instant) -> u64 {
        human::millis(to.saturating_duration_since(from))
    }

    /// Narrates one step.
    pub(crate) fn note(&mut self, text: impl Into<String>) {
        let n = Narration::Note {
            at: Utc::now(),
            chapter: self.chapter,
            t_ms: self.t_ms(),
            text: text.into(),
        };
        self.narrator.narrate(&n);
    }

    /// Narrates a fault's report.
    pub(crate) fn fault(&mut self, report: &FaultReport) {
        let n = Narration::Fault {
            at: report.at,
            chapter: self.chapter,
            t_ms: Self::between(self.chapter_start, report.instant),
            report: report.clone(),
        };
        self.narrator.narrate(&n);
    }

    /// Starts chapter `n` and returns its (not yet observed) result.
    pub(crate) fn begin(
        &mut self,
        n: usize,
        title: &str,
        fault: &str,
        expect: &str,
    ) -> ChapterResult {
        self.chapter = n;
        self.chapter_start = Instant::now();
        self.chapter_from = self.seen.len();
        self.narrator.narrate(&Narration::ChapterStart {
            at: Utc::now(),
            chapter: n,
            title: title.to_owned(),
            expect: expect.to_owned(),
        });
        ChapterResult::new(n, title, fault)
    }

    /// Fills in what every chapter reports (tickets, load, length) and narrates the end.
    pub(crate) fn end(&mut self, mut result: ChapterResult) -> ChapterResult {
        let events = &self.seen[self.chapter_from..];
        result.opened = events
            .iter()
            .filter(|s| matches!(s.event, Event::Opened { .. }))
            .map(Seen::what)
            .collect();
        result.resolved = events
            .iter()
            .filter(|s| matches!(s.event, Event::Resolved { .. }))
            .map(Seen::what)
            .collect();
        result.load = self.load.since(self.chapter_start);
        result.took_ms = self.t_ms();
        self.narrator.narrate(&Narration::ChapterEnd {
            at: Utc::now(),
            result: result.clone(),
        });
        result
    }

    /// Waits for the next slot of the monitor's schedule, ticks once, and narrates the ticket
    /// events of the tick.
    ///
    /// # Errors
    /// When the ticket store fails.
    pub(crate) async fn tick(&mut self) -> Result<()> {
        tokio::time::sleep_until(self.next).await;
        let report = self.monitor.tick().await?;
        let now = Instant::now();
        self.next += self.interval;
        if self.next < now {
            self.next = now;
        }
        for event in &report.events {
            let seen = Seen {
                instant: now,
                event: event.clone(),
            };
            let (kind, severity, message) = match event {
                Event::Opened { violation, .. } => (
                    "opened",
                    Some(violation.severity.to_string()),
                    Some(violation.message.clone()),
                ),
                Event::Escalated { violation, .. } => (
                    "escalated",
                    Some(violation.severity.to_string()),
                    Some(violation.message.clone()),
                ),
                Event::Resolved { .. } => ("resolved", None, None),
                Event::ClearedWhileHeld { .. } => ("cleared_while_held", None, None),
            };
            let n = Narration::Ticket {
                at: Utc::now(),
                chapter: self.chapter,
                t_ms: self.t_ms(),
                event: kind.to_owned(),
                ticket: event.ticket(),
                what: seen.what(),
                severity,
                message,
            };
            self.narrator.narrate(&n);
            self.seen.push(seen);
        }
        self.last = Some(report);
        Ok(())
    }

    /// Runs `fut` while the monitor keeps ticking on schedule. A tick under way when `fut`
    /// ends is finished first: dropped halfway, its ticket events would be recorded in the
    /// store but never seen here.
    ///
    /// # Errors
    /// When the ticket store fails.
    pub(crate) async fn during<T>(&mut self, fut: impl Future<Output = T>) -> Result<T> {
        tokio::pin!(fut);
        let mut out = None;
        loop {
            tokio::select! {
                biased;
                o = &mut fut => return Ok(o),
                () = tokio::time::sleep_until(self.next) => {}
            }
            let tick = self.tick();
            tokio::pin!(tick);
            loop {
                tokio::select! {
                    biased;
                    r = &mut tick => {
                        r?;
                        break;
                    }
                    o = &mut fut, if out.is_none() => out = Some(o),
                }
            }
            if let Some(o) = out.take() {
                return Ok(o);
            }
        }
    }

    /// Ticks until `done` holds (checked before each tick too), for at most `timeout`.
    /// Returns whether it held.
    ///
    /// # Errors
    /// When the ticket store fails.
    pub(crate) async fn until(
        &mut self,
        timeout: Duration,
        mut done: impl FnMut(&Self) -> bool,
    ) -> Result<bool> {
        let deadline = Instant::now() + timeout;
        loop {
            if done(self) {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            self.tick().await?;
        }
    }

    /// Keeps ticking for `d`.
    ///
    /// # Errors
    /// When the ticket store fails.
    pub(crate) async fn observe_for(&mut self, d: Duration) -> Result<()> {
        let end = Instant::now() + d;
        while Instant::now() < end {
            self.tick().await?;
        }
        Ok(())
    }

    /// The first event since `from` (an index in `seen`) that matches.
    pub(crate) fn find(&self, from: usize, pred: impl Fn(&Seen) -> bool) -> Option<&Seen> {
        self.seen[from.min(self.seen.len())..]
            .iter()
            .find(|s| pred(s))
    }

    /// Tickets opened since `from` and not resolved since.
    pub(crate) fn still_open(&self, from: usize) -> Vec<String> {
        let events = &self.seen[from.min(self.seen.len())..];
        events
            .iter()
            .filter_map(|s| match s.event {
                Event::Opened { ticket, .. } => Some((ticket, s.what())),
                _ => None,
            })
            .filter(|(ticket, _)| {
                !events
                    .iter()
                    .any(|s| matches!(s.event, Event::Resolved { ticket: t, .. } if t == *ticket))
            })
            .map(|(_, what)| what)
            .collect()
    }

    /// Whether the last tick saw nothing firing.
    pub(crate) fn healthy(&self) -> bool {
        self.last.as_ref().is_some_and(TickReport::healthy)
    }

    /// What is firing after the last tick.
    pub(crate) fn firing(&self) -> Vec<String> {
        self.last
            .as_ref()
            .map(|r| {
                r.firing
                    .iter()
                    .map(|a| a.violation.key().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Runs a remediation action through the subject, and narrates it.
    ///
    /// # Errors
    /// When the action fails.
    pub(crate) async fn execute(&mut self, action: &RateLimitAction) -> Result<ActionReport> {
        let report = self.monitor.subject().execute(action).await?;
        let n = Narration::Action {
            at: Utc::now(),
            chapter: self.chapter,
            t_ms: self.t_ms(),
            report: report.clone(),
        };
        self.narrator.narrate(&n);
        Ok(report)
    }
}
