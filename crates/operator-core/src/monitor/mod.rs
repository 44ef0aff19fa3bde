//! [`MonitorLoop`]: observe a subject on a fixed interval, check its invariants, keep tickets.
//!
//! Each [`tick`](MonitorLoop::tick) observes the subject once (bounded by a timeout), hands the
//! observation and the recent history to the checker, runs the violations through the alert state
//! machine ([`crate::alert`]) with each invariant's pending and keep-firing periods, and opens,
//! updates or resolves tickets accordingly. A failed or timed-out observation is itself a critical
//! violation, [`SUBJECT_UNREACHABLE`], and freezes every other alert: what could not be seen is
//! never taken as cleared. [`run`](MonitorLoop::run) repeats ticks until shutdown.

mod config;
mod report;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;

use chrono::Utc;
use serde_json::json;
use std::time::Duration;

use tokio::time::Instant;

pub use crate::observe::SUBJECT_UNREACHABLE;
pub use config::MonitorConfig;
pub use report::{Active, Event, TickReport};

use crate::alert::{Alerts, Change, Phase, Update};
use crate::error::Result;
use crate::history::History;
use crate::invariant::{InvariantChecker, InvariantSpec, Violation, ViolationKey};
use crate::observe::observe_bounded;
use crate::subject::Subject;
use crate::ticket::{AutoResolve, Snapshot, TicketStore, Upsert};

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
    store: Arc<TicketStore>,
    config: MonitorConfig,
    specs: BTreeMap<String, InvariantSpec>,
    alerts: Alerts,
    tickets: BTreeMap<ViolationKey, i64>,
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
        let mut tickets = BTreeMap::new();
        let now = Instant::now();
        for t in store.open_tickets(subject.name())? {
            let violation = Violation {
                invariant: t.invariant.clone(),
                entity: t.entity.clone(),
                severity: t.severity,
                message: t.message.clone(),
                evidence: t.evidence.clone(),
            };
            tickets.insert(violation.key(), t.id);
            alerts.restore(violation, t.first_seen, now);
        }
        let history = History::new(config.history);
        Ok(Self {
            subject,
            checker,
            store,
            config,
            specs,
            alerts,
            tickets,
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
        &self.store
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

    /// Observes the subject once, evaluates its invariants and updates tickets.
    ///
    /// # Errors
    /// When the ticket store fails. The alert state has advanced regardless; the next tick
    /// records what this one could not (an open ticket is created on the next occurrence).
    pub async fn tick(&mut self) -> Result<TickReport> {
        self.summary.ticks += 1;
        let now = Instant::now();
        let now_utc = Utc::now();
        let subject = self.subject.name().to_owned();
        let timeout = self.config.observe_timeout;

        let mut unknown = Vec::new();
        let (observation, seen, observation_error) =
            match observe_bounded(&self.subject, timeout).await {
                Ok(obs) => {
                    let seen = self.checker.check(&obs, &self.history);
                    unknown = self.checker.unknown(&obs, &self.history);
                    (Some(Arc::new(obs)), seen, None)
                }
                Err(failure) => (
                    None,
                    vec![failure.violation(&subject)],
                    Some(failure.to_string()),
                ),
            };
        if let Some(error) = &observation_error {
            self.summary.failed_observations += 1;
            tracing::warn!(subject = %subject, error = %error, "observation failed");
        }

        let observed_ok = observation.is_some();
        let seen_keys: BTreeSet<ViolationKey> = seen.iter().map(Violation::key).collect();
        let (config, specs) = (&self.config, &self.specs);
        let updates = self.alerts.evaluate(
            now,
            now_utc,
            seen,
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
            subject: subject.clone(),
            observed_at: now_utc,
            observation_error,
            firing: Vec::new(),
            pending: Vec::new(),
            events: Vec::new(),
        };
        let mut store_error = None;
        for update in updates {
            let invariant = update.violation.invariant.clone();
            if let Err(e) = self.apply(update, observation.as_deref(), &mut report) {
                tracing::error!(subject = %subject, invariant = %invariant, error = %e, "ticket store failed");
                store_error.get_or_insert(e);
            }
        }
        self.summarize(&mut report, &seen_keys);
        if let Some(obs) = observation {
            self.history.push(now_utc, now, obs);
        }
        match store_error {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }

    fn apply(
        &mut self,
        update: Update,
        observation: Option<&S::Observation>,
        report: &mut TickReport,
    ) -> Result<()> {
        let Update {
            change,
            violation,
            first_seen: since,
        } = update;
        let key = violation.key();
        let subject = self.subject.name();
        let now = Utc::now();
        match change {
            Change::Pending | Change::Dropped | Change::Clearing => {}
            Change::Fired | Change::Firing => {
                let outcome = self.store.upsert(subject, &violation, since, now)?;
                let id = outcome.id();
                self.tickets.insert(key, id);
                match outcome {
                    Upsert::Opened(ticket) => {
                        tracing::info!(subject, invariant = %violation.invariant, entity = ?violation.entity, ticket, "ticket opened");
                        self.snapshot(ticket, "opened", observation)?;
                        report.events.push(Event::Opened {
                            ticket,
                            violation: violation.clone(),
                            since,
                        });
                    }
                    Upsert::Updated {
                        id: ticket,
                        escalated_from: Some(from),
                    } => {
                        tracing::info!(subject, invariant = %violation.invariant, ticket, from = %from, to = %violation.severity, "ticket escalated");
                        self.snapshot(ticket, "escalated", observation)?;
                        report.events.push(Event::Escalated {
                            ticket,
                            from,
                            violation: violation.clone(),
                        });
                    }
                    Upsert::Updated { .. } => {}
                }
            }
            Change::Resolved { retry } => match self.store.resolve_cleared(subject, &key, now) {
                Err(e) => {
                    // Keep tracking it, so the next tick retries instead of leaving the ticket
                    // open until the monitor restarts.
                    self.alerts.hold(violation, since, Instant::now());
                    return Err(e);
                }
                Ok(outcome) => match outcome {
                    AutoResolve::Resolved(ticket) => {
                        self.tickets.remove(&key);
                        tracing::info!(subject, invariant = %key.invariant, entity = ?key.entity, ticket, "ticket resolved");
                        report.events.push(Event::Resolved { ticket, key });
                    }
                    AutoResolve::Held(ticket) => {
                        if !retry {
                            tracing::info!(subject, invariant = %key.invariant, ticket, "violation cleared; ticket held");
                            report.events.push(Event::ClearedWhileHeld { ticket, key });
                        }
                        self.alerts.hold(violation, since, Instant::now());
                    }
                    AutoResolve::NotOpen => {
                        self.tickets.remove(&key);
                    }
                },
            },
        }
        Ok(())
    }

    /// Lists what is firing and pending after this tick, frozen alerts included (`observed` tells
    /// which were seen by this tick).
    fn summarize(&self, report: &mut TickReport, seen: &BTreeSet<ViolationKey>) {
        for alert in self.alerts.iter() {
            let key = alert.violation.key();
            let active = Active {
                violation: alert.violation.clone(),
                since: alert.first_seen,
                ticket: self.tickets.get(&key).copied(),
                observed: seen.contains(&key),
            };
            match alert.phase {
                Phase::Pending => report.pending.push(active),
                Phase::Firing | Phase::Clearing { .. } => report.firing.push(active),
                Phase::Held => {}
            }
        }
    }

    fn snapshot(
        &self,
        ticket: i64,
        reason: &str,
        observation: Option<&S::Observation>,
    ) -> Result<()> {
        let skip = self
            .history
            .len()
            .saturating_sub(self.config.snapshot_history);
        let history: Vec<serde_json::Value> = self
            .history
            .iter()
            .skip(skip)
            .map(|e| {
                Ok(json!({ "at": e.at, "observation": serde_json::to_value(&*e.observation)? }))
            })
            .collect::<Result<_>>()?;
        let snapshot = Snapshot {
            at: Utc::now(),
            reason: reason.to_owned(),
            observation: observation
                .map(serde_json::to_value)
                .transpose()?
                .unwrap_or_default(),
            history: serde_json::Value::Array(history),
        };
        self.store.add_snapshot(ticket, &snapshot)
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

/// The first multiple of `interval` after `start` that is later than `now`.
fn next_slot(start: Instant, interval: Duration, now: Instant) -> Instant {
    let step = interval.as_nanos().max(1);
    let slots = now.duration_since(start).as_nanos() / step + 1;
    let offset = u64::try_from(slots * step).unwrap_or(u64::MAX);
    start + Duration::from_nanos(offset)
}
