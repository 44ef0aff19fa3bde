//! The monitor's ticket bookkeeping: what each alert update does to the ticket store (open or
//! bump a ticket, with a snapshot when it opens or escalates; resolve it, or keep it held), and
//! which open ticket tracks which violation. Every store call runs on the blocking pool
//! ([`TicketStore::call`]); what it stores is serialized on the runtime first.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use tokio::time::Instant;

use super::report::{Event, TickReport};
use crate::alert::{Alerts, Change, Update};
use crate::error::Result;
use crate::history::History;
use crate::invariant::{Violation, ViolationKey};
use crate::ticket::{AutoResolve, Snapshot, SnapshotReason, TicketStore, Upsert};

/// The clock of one tick, read once at its start and handed to everything the tick records.
#[derive(Debug, Clone, Copy)]
pub(super) struct Clock {
    /// Monotonic time, for the alert state machine.
    pub(super) instant: Instant,
    /// Wall-clock time, for tickets, snapshots and the report.
    pub(super) utc: DateTime<Utc>,
}

impl Clock {
    /// Reads both clocks.
    pub(super) fn now() -> Self {
        Self {
            instant: Instant::now(),
            utc: Utc::now(),
        }
    }
}

/// What a snapshot stores: this tick's observation (none when it failed) and the recent ones.
pub(super) struct Seen<'a, O> {
    /// This tick's observation.
    pub(super) observation: Option<&'a O>,
    /// The observations before it, oldest first.
    pub(super) history: &'a History<O>,
}

/// The open tickets of one subject, kept in step with its alerts.
pub(super) struct Tickets {
    store: Arc<TicketStore>,
    /// The open ticket of each violation that has one.
    ids: BTreeMap<ViolationKey, i64>,
    /// Observations of the history stored with a snapshot.
    snapshot_history: usize,
}

impl Tickets {
    /// Picks up the tickets of `subject` left open by an earlier run, tracking each as a firing
    /// alert in `alerts`, so it resolves when the violation is seen clear.
    ///
    /// # Errors
    /// When the open tickets cannot be read.
    pub(super) fn restore(
        store: Arc<TicketStore>,
        subject: &str,
        snapshot_history: usize,
        alerts: &mut Alerts,
        now: Instant,
    ) -> Result<Self> {
        let mut ids = BTreeMap::new();
        for t in store.open_tickets(subject)? {
            let violation = Violation {
                invariant: t.invariant.clone(),
                entity: t.entity.clone(),
                severity: t.severity,
                message: t.message.clone(),
                evidence: t.evidence.clone(),
            };
            ids.insert(violation.key(), t.id);
            alerts.restore(violation, t.first_seen, now);
        }
        Ok(Self {
            store,
            ids,
            snapshot_history,
        })
    }

    /// The ticket store.
    pub(super) fn store(&self) -> &Arc<TicketStore> {
        &self.store
    }

    /// The open ticket tracking `key`, if any.
    pub(super) fn id(&self, key: &ViolationKey) -> Option<i64> {
        self.ids.get(key).copied()
    }

    /// Records `update` in the store at `clock`, adding the ticket events it caused to `report`.
    ///
    /// # Errors
    /// When the store fails. A resolution that failed is put back in `alerts` as held, so the
    /// next tick retries it instead of leaving the ticket open until a restart.
    pub(super) async fn apply<O: Serialize>(
        &mut self,
        subject: &str,
        update: Update,
        clock: Clock,
        seen: &Seen<'_, O>,
        alerts: &mut Alerts,
        report: &mut TickReport,
    ) -> Result<()> {
        let Update {
            change,
            violation,
            first_seen,
        } = update;
        match change {
            Change::Pending | Change::Dropped | Change::Clearing => Ok(()),
            Change::Fired | Change::Firing => {
                self.firing(subject, violation, first_seen, clock.utc, seen, report)
                    .await
            }
            Change::Resolved { retry } => {
                let done = self
                    .cleared(subject, &violation.key(), retry, clock.utc, report)
                    .await;
                if !matches!(done, Ok(true)) {
                    alerts.hold(violation, first_seen, clock.instant);
                }
                done.map(|_| ())
            }
        }
    }

    /// A firing violation: opens its ticket or bumps it, with a snapshot when it opens or
    /// escalates.
    async fn firing<O: Serialize>(
        &mut self,
        subject: &str,
        violation: Violation,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
        seen: &Seen<'_, O>,
        report: &mut TickReport,
    ) -> Result<()> {
        let outcome = {
            let (subject, violation) = (subject.to_owned(), violation.clone());
            self.store
                .call(move |s| s.upsert(&subject, &violation, since, now))
                .await?
        };
        self.ids.insert(violation.key(), outcome.id());
        match outcome {
            Upsert::Opened(ticket) => {
                tracing::info!(invariant = %violation.invariant, entity = ?violation.entity, ticket, "ticket opened");
                self.snapshot(ticket, SnapshotReason::Opened, now, seen)
                    .await?;
                report.events.push(Event::Opened {
                    ticket,
                    violation,
                    since,
                });
            }
            Upsert::Updated {
                id: ticket,
                escalated_from: Some(from),
            } => {
                tracing::info!(invariant = %violation.invariant, ticket, from = %from, to = %violation.severity, "ticket escalated");
                self.snapshot(ticket, SnapshotReason::Escalated, now, seen)
                    .await?;
                report.events.push(Event::Escalated {
                    ticket,
                    from,
                    violation,
                });
            }
            Upsert::Updated { .. } => {}
        }
        Ok(())
    }

    /// A violation that stayed clear: resolves its ticket unless it is held. Returns whether the
    /// alert is done with (false: the ticket is held, keep retrying).
    async fn cleared(
        &mut self,
        subject: &str,
        key: &ViolationKey,
        retry: bool,
        now: DateTime<Utc>,
        report: &mut TickReport,
    ) -> Result<bool> {
        let outcome = {
            let (subject, key) = (subject.to_owned(), key.clone());
            self.store
                .call(move |s| s.resolve_cleared(&subject, &key, now))
                .await?
        };
        match outcome {
            AutoResolve::Resolved(ticket) => {
                self.ids.remove(key);
                tracing::info!(invariant = %key.invariant, entity = ?key.entity, ticket, "ticket resolved");
                report.events.push(Event::Resolved {
                    ticket,
                    key: key.clone(),
                });
                Ok(true)
            }
            AutoResolve::Held(ticket) => {
                if !retry {
                    tracing::info!(invariant = %key.invariant, ticket, "violation cleared; ticket held");
                    report.events.push(Event::ClearedWhileHeld {
                        ticket,
                        key: key.clone(),
                    });
                }
                Ok(false)
            }
            AutoResolve::NotOpen => {
                self.ids.remove(key);
                Ok(true)
            }
        }
    }

    /// Stores the subject's state with `ticket`: this tick's observation and the latest
    /// `snapshot_history` ones before it.
    async fn snapshot<O: Serialize>(
        &self,
        ticket: i64,
        reason: SnapshotReason,
        at: DateTime<Utc>,
        seen: &Seen<'_, O>,
    ) -> Result<()> {
        let skip = seen.history.len().saturating_sub(self.snapshot_history);
        let history: Vec<serde_json::Value> = seen
            .history
            .iter()
            .skip(skip)
            .map(|e| {
                Ok(json!({ "at": e.at, "observation": serde_json::to_value(&*e.observation)? }))
            })
            .collect::<Result<_>>()?;
        let snapshot = Snapshot {
            at,
            reason,
            observation: seen
                .observation
                .map(serde_json::to_value)
                .transpose()?
                .unwrap_or_default(),
            history: serde_json::Value::Array(history),
        };
        self.store
            .call(move |s| s.add_snapshot(ticket, &snapshot))
            .await
    }
}
