//! [`MonitorLoop`]: the loop itself, its ticks and its schedule.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tracing::Instrument;

use super::config::MonitorConfig;
use super::report::{Active, Event, TickReport};
use super::retention::Retention;
use super::tickets::{Clock, Seen, Tickets};
use crate::alert::{Alerts, Phase};
use crate::error::Result;
use crate::history::History;
use crate::invariant::{InvariantChecker, InvariantSpec, Unknown, Violation, ViolationKey};
use crate::observe::{SUBJECT_UNREACHABLE, observe_bounded};
use crate::subject::Subject;
use crate::ticket::TicketStore;

/// Counters of a finished [`MonitorLoop::run`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Ticks run.
    pub ticks: u64,
    /// Ticks whose observation failed.
    pub failed_observations: u64,
    /// Ticks that could not record their outcome in the ticket store.
    pub failed_ticks: u64,
}

/// The monitor of one subject.
pub struct MonitorLoop<S: Subject, C> {
    subject: S,
    checker: C,
    config: MonitorConfig,
    specs: BTreeMap<String, InvariantSpec>,
    alerts: Alerts,
    tickets: Tickets,
    retention: Retention,
    history: History<S::Observation>,
    summary: RunSummary,
}

impl<S, C> MonitorLoop<S, C>
where
    S: Subject,
    C: InvariantChecker<S::Observation>,
{
    /// A monitor of `subject`. Tickets left open by an earlier run are picked up as firing alerts,
    /// so they resolve when the monitor sees them clear.
    ///
    /// # Errors
    /// When the open tickets cannot be read.
    pub fn new(
        subject: S,
        checker: C,
        store: Arc<TicketStore>,
        config: MonitorConfig,
    ) -> Result<Self> {
        let mut specs: BTreeMap<String, InvariantSpec> = checker
            .invariants()
            .into_iter()
            .map(|s| (s.name.clone(), s))
            .collect();
        specs.insert(
            SUBJECT_UNREACHABLE.to_owned(),
            InvariantSpec::new(
                SUBJECT_UNREACHABLE,
                "The subject can be observed at all; it fires when an observation fails or times out. While it fires, \
                 every other alert is frozen, since nothing about them could be seen.",
            ),
        );
        let mut alerts = Alerts::new();
        let tickets = Tickets::restore(
            store,
            subject.name(),
            config.snapshot_history,
            &mut alerts,
            Instant::now(),
        )?;
        let history = History::new(config.history);
        let retention = Retention::new(config.retention, config.prune_interval);
        Ok(Self {
            subject,
            checker,
            config,
            specs,
            alerts,
            tickets,
            retention,
            history,
            summary: RunSummary::default(),
        })
    }

    /// The subject.
    pub fn subject(&self) -> &S {
        &self.subject
    }

    /// The checker.
    pub fn checker(&self) -> &C {
        &self.checker
    }

    /// The ticket store.
    pub fn store(&self) -> &Arc<TicketStore> {
        self.tickets.store()
    }

    /// Every invariant this monitor reports, including [`SUBJECT_UNREACHABLE`].
    pub fn invariants(&self) -> impl Iterator<Item = &InvariantSpec> {
        self.specs.values()
    }

    /// The recent successful observations.
    pub fn history(&self) -> &History<S::Observation> {
        &self.history
    }

    /// Counters so far.
    pub fn summary(&self) -> RunSummary {
        self.summary
    }

    /// Observes the subject once, evaluates its invariants and updates tickets, inside a `tick`
    /// span naming the subject. The clocks are read once, at the start: the report, the tickets
    /// and the snapshots of a tick all carry the same time.
    ///
    /// The span records what the tick found when it ends: `invariants_checked` (all of them
    /// after a successful observation, only `subject_unreachable` after a failed one),
    /// `violations` (seen by this observation) and `tickets_opened`; an exporter of spans (the
    /// binary's OpenTelemetry layer) sends them with it.
    ///
    /// # Errors
    /// When the ticket store fails. The alert state has advanced regardless; the next tick
    /// records what this one could not (an open ticket is created on the next occurrence).
    pub async fn tick(&mut self) -> Result<TickReport> {
        let span = tracing::info_span!(
            "tick",
            subject = self.subject.name(),
            invariants_checked = tracing::field::Empty,
            violations = tracing::field::Empty,
            tickets_opened = tracing::field::Empty,
        );
        let result = self.tick_at(Clock::now()).instrument(span.clone()).await;
        if let Ok(report) = &result {
            let checked = if report.observation_error.is_none() {
                self.specs.len()
            } else {
                1
            };
            let opened = report
                .events
                .iter()
                .filter(|e| matches!(e, Event::Opened { .. }))
                .count();
            span.record("invariants_checked", checked);
            span.record("violations", report.observed().count());
            span.record("tickets_opened", opened);
        }
        result
    }

    async fn tick_at(&mut self, clock: Clock) -> Result<TickReport> {
        self.summary.ticks += 1;
        let observe_started = Instant::now();
        let observed = self.observe().await;
        let observation_duration = observe_started.elapsed();
        let observed_ok = observed.observation.is_some();
        let seen_keys: BTreeSet<ViolationKey> = observed.seen.iter().map(Violation::key).collect();
        let (config, specs, unknown) = (&self.config, &self.specs, &observed.unknown);
        let updates = self.alerts.evaluate(
            clock.instant,
            clock.utc,
            observed.seen,
            // A failed observation clears nothing (it reports `subject_unreachable` itself), and
            // what the checker could not evaluate stays as it is: nothing resolves blind.
            |key| {
                if observed_ok {
                    !unknown.iter().any(|u| u.covers(key))
                } else {
                    key.invariant == SUBJECT_UNREACHABLE
                }
            },
            |invariant| config.timing_of(invariant, specs),
        );

        let mut report = TickReport {
            subject: self.subject.name().to_owned(),
            observed_at: clock.utc,
            observation_error: observed.error,
            observation_duration,
            firing: Vec::new(),
            pending: Vec::new(),
            events: Vec::new(),
            pruned: None,
        };
        let seen = Seen {
            observation: observed.observation.as_deref(),
            history: &self.history,
        };
        let mut store_error = None;
        for update in updates {
            let invariant = update.violation.invariant.clone();
            let applied = self
                .tickets
                .apply(
                    self.subject.name(),
                    update,
                    clock,
                    &seen,
                    &mut self.alerts,
                    &mut report,
                )
                .await;
            if let Err(e) = applied {
                tracing::error!(invariant = %invariant, error = %e, "ticket store failed");
                store_error.get_or_insert(e);
            }
        }
        match self
            .retention
            .run(self.tickets.store(), clock.instant, clock.utc)
            .await
        {
            Ok(pruned) => report.pruned = pruned,
            // Retention is housekeeping: a failed pass is retried at the next interval, and the
            // tick's own records stand.
            Err(e) => tracing::warn!(error = %e, "retention pass failed"),
        }
        self.summarize(&mut report, &seen_keys);
        if let Some(obs) = observed.observation {
            self.history.push(clock.utc, clock.instant, obs);
        }
        match store_error {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }

    /// Observes the subject (bounded by the configured timeout) and checks the observation; a
    /// failed observation is the one violation [`SUBJECT_UNREACHABLE`].
    async fn observe(&mut self) -> Observed<S::Observation> {
        match observe_bounded(&self.subject, self.config.observe_timeout).await {
            Ok(obs) => Observed {
                seen: self.checker.check(&obs, &self.history),
                unknown: self.checker.unknown(&obs, &self.history),
                observation: Some(Arc::new(obs)),
                error: None,
            },
            Err(failure) => {
                self.summary.failed_observations += 1;
                let error = failure.to_string();
                tracing::warn!(error = %error, "observation failed");
                Observed {
                    seen: vec![failure.violation(self.subject.name())],
                    unknown: Vec::new(),
                    observation: None,
                    error: Some(error),
                }
            }
        }
    }

    /// Lists what is firing and pending after this tick, frozen alerts included (`observed` tells
    /// which were seen by this tick).
    fn summarize(&self, report: &mut TickReport, seen: &BTreeSet<ViolationKey>) {
        for alert in self.alerts.iter() {
            let key = alert.violation.key();
            let active = Active {
                violation: alert.violation.clone(),
                since: alert.first_seen,
                ticket: self.tickets.id(&key),
                observed: seen.contains(&key),
            };
            match alert.phase {
                Phase::Pending => report.pending.push(active),
                Phase::Firing | Phase::Clearing { .. } => report.firing.push(active),
                Phase::Held => {}
            }
        }
    }

    /// Ticks on a fixed schedule until `shutdown` completes, handing each report to `on_report`.
    ///
    /// The schedule does not drift: ticks start at whole multiples of the interval from the first
    /// one, however long each takes; a tick that overruns skips the slots it missed rather than
    /// bursting to catch up. A tick that fails is logged and counted; it never ends the loop.
    /// `shutdown` is honoured between ticks and during an observation.
    pub async fn run<F, R>(&mut self, shutdown: F, mut on_report: R) -> RunSummary
    where
        F: Future<Output = ()>,
        R: FnMut(&TickReport),
    {
        let start = Instant::now();
        let mut deadline = start;
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                () = tokio::time::sleep_until(deadline) => {}
            }
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                result = self.tick() => match result {
                    Ok(report) => on_report(&report),
                    Err(e) => {
                        self.summary.failed_ticks += 1;
                        tracing::error!(subject = %self.subject.name(), error = %e, "tick failed");
                    }
                },
            }
            deadline = next_slot(start, self.config.interval, Instant::now());
        }
        tracing::info!(subject = %self.subject.name(), ticks = self.summary.ticks, "monitor stopped");
        self.summary
    }
}

/// What one observation gave the checker.
struct Observed<O> {
    /// The observation, when it succeeded.
    observation: Option<Arc<O>>,
    /// The violations it shows (or [`SUBJECT_UNREACHABLE`] when it failed).
    seen: Vec<Violation>,
    /// What the checker could not evaluate in it.
    unknown: Vec<Unknown>,
    /// Why it failed, when it did.
    error: Option<String>,
}

/// The first multiple of `interval` after `start` that is later than `now`.
fn next_slot(start: Instant, interval: Duration, now: Instant) -> Instant {
    let step = interval.as_nanos().max(1);
    let slots = now.duration_since(start).as_nanos() / step + 1;
    let offset = u64::try_from(slots * step).unwrap_or(u64::MAX);
    start + Duration::from_nanos(offset)
}
