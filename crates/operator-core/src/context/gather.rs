//! [`gather`]: assembling a [`Context`] from the ticket store and the subject.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::document::{
    Context, ContextSection, ObservationEntry, PastTicket, Phase, RelatedTicket, SubjectSection,
};
use super::redact;
use crate::action::Action;
use crate::assess::Now;
use crate::diagnosis::Diagnosable;
use crate::error::Result;
use crate::history::History;
use crate::invariant::InvariantSpec;
use crate::ticket::{
    AuditKind, Snapshot, SnapshotReason, Ticket, TicketFilter, TicketStatus, TicketStore,
};

/// How much a context holds. Build with [`Default`] and adjust fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextConfig {
    /// Size budget of the JSON document, in bytes (see [`Context::trim`]).
    pub budget: usize,
    /// Similar past tickets included at most.
    pub similar: usize,
    /// Concurrent tickets included at most (most severe first).
    pub concurrent: usize,
    /// The caller's recent observations included at most (the freshest last).
    pub recent: usize,
    /// Tickets examined when looking for concurrent and similar ones (newest first).
    pub scan: usize,
}

impl Default for ContextConfig {
    fn default() -> Self {
        Self {
            budget: 64 * 1024,
            similar: 5,
            concurrent: 20,
            recent: 5,
            scan: 500,
        }
    }
}

/// Assembles the context of `ticket`, redacted and not yet trimmed (the caller trims it to the
/// budget it needs, with [`Context::trim`]; the offline diagnoser reads the whole document).
///
/// `invariants` documents the checker's invariants; `recent` holds the caller's fresh
/// observations (its latest entry becomes the `current` one, and is handed to the subject's
/// [`context`](Diagnosable::context) hook); `now` is the verdict of that observation on the ticket's
/// violation, when the caller assessed it.
///
/// What the store holds about a ticket is read in one call off the async runtime
/// ([`TicketStore::call`]).
///
/// # Errors
/// When the ticket store fails.
pub async fn gather<S: Diagnosable>(
    store: &Arc<TicketStore>,
    subject: &S,
    invariants: Vec<InvariantSpec>,
    ticket: &Ticket,
    recent: &History<S::Observation>,
    now: Option<Now>,
    config: &ContextConfig,
) -> Result<Context> {
    let (invariant, other_invariants): (Vec<_>, Vec<_>) = invariants
        .into_iter()
        .partition(|s| s.name == ticket.invariant);
    let (snapshots, (concurrent, similar), timeline) = {
        let (ticket, config) = (ticket.clone(), config.clone());
        store
            .call(move |s| {
                Ok((
                    s.snapshots(ticket.id)?,
                    related(s, &ticket, &config)?,
                    s.events(ticket.id)?,
                ))
            })
            .await?
    };
    let observations = observations(snapshots, ticket, recent, config)?;
    let latest = recent.latest().map(|e| &*e.observation);
    let extra: Vec<ContextSection> = subject.context(ticket, latest).await;
    let context = Context {
        generated_at: Utc::now(),
        ticket: ticket.clone(),
        subject: SubjectSection {
            name: subject.name().to_owned(),
            description: subject.description(),
        },
        invariant: invariant.into_iter().next(),
        other_invariants,
        actions: <S::Action as Action>::catalog(),
        now,
        timeline,
        observations,
        concurrent,
        similar,
        extra,
        trimmed: Vec::new(),
    };
    Ok(redact::context(context))
}

/// The phase of an observation taken at `at` for `ticket`.
fn phase_at(ticket: &Ticket, at: DateTime<Utc>) -> Phase {
    if at < ticket.first_seen {
        Phase::Before
    } else if ticket.resolved_at.is_some_and(|r| at > r) {
        Phase::After
    } else {
        Phase::During
    }
}

/// Snapshots stored with the ticket and the caller's recent observations, oldest first, each
/// once.
fn observations<O: serde::Serialize>(
    snapshots: Vec<Snapshot>,
    ticket: &Ticket,
    recent: &History<O>,
    config: &ContextConfig,
) -> Result<Vec<ObservationEntry>> {
    // Keyed by time, so the history stored with several snapshots appears once; a snapshot's own
    // observation wins over the same one seen in a later snapshot's history.
    let mut by_time: BTreeMap<DateTime<Utc>, ObservationEntry> = BTreeMap::new();
    for snapshot in snapshots {
        for item in snapshot.history.as_array().into_iter().flatten() {
            let (Some(at), Some(obs)) = (
                item.get("at")
                    .and_then(|a| serde_json::from_value::<DateTime<Utc>>(a.clone()).ok()),
                item.get("observation"),
            ) else {
                continue;
            };
            by_time.entry(at).or_insert_with(|| ObservationEntry {
                at,
                phase: phase_at(ticket, at),
                observation: obs.clone(),
            });
        }
        if !snapshot.observation.is_null() {
            let phase = if snapshot.reason == SnapshotReason::Escalated {
                Phase::Escalated
            } else {
                Phase::Opened
            };
            by_time.insert(
                snapshot.at,
                ObservationEntry {
                    at: snapshot.at,
                    phase,
                    observation: snapshot.observation,
                },
            );
        }
    }
    let skip = recent.len().saturating_sub(config.recent);
    let last = recent.len().saturating_sub(1);
    for (i, entry) in recent.iter().enumerate().skip(skip) {
        let phase = if i == last {
            Phase::Current
        } else {
            phase_at(ticket, entry.at)
        };
        by_time.insert(
            entry.at,
            ObservationEntry {
                at: entry.at,
                phase,
                observation: serde_json::to_value(&*entry.observation)?,
            },
        );
    }
    Ok(by_time.into_values().collect())
}

/// Tickets of the same subject open at the same time, and past tickets of the same invariant.
fn related(
    store: &TicketStore,
    ticket: &Ticket,
    config: &ContextConfig,
) -> Result<(Vec<RelatedTicket>, Vec<PastTicket>)> {
    let all = store.list(&TicketFilter {
        subject: Some(ticket.subject.clone()),
        limit: Some(config.scan),
        ..TicketFilter::default()
    })?;
    let end = ticket.resolved_at.unwrap_or_else(Utc::now);
    let mut concurrent: Vec<RelatedTicket> = all
        .iter()
        .filter(|t| t.id != ticket.id)
        .filter(|t| t.first_seen <= end && t.resolved_at.is_none_or(|r| r >= ticket.first_seen))
        .map(|t| RelatedTicket {
            id: t.id,
            invariant: t.invariant.clone(),
            entity: t.entity.clone(),
            severity: t.severity,
            status: t.status,
            message: t.message.clone(),
            first_seen: t.first_seen,
            resolved_at: t.resolved_at,
            evidence: t.evidence.clone(),
        })
        .collect();
    // Most severe first, then the earliest: the likeliest causes of the others.
    concurrent.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.first_seen.cmp(&b.first_seen))
    });
    concurrent.truncate(config.concurrent);
    let mut similar = Vec::new();
    for t in all.iter().filter(|t| {
        t.id != ticket.id
            && t.invariant == ticket.invariant
            && t.status == TicketStatus::Resolved
            && t.first_seen < ticket.first_seen
    }) {
        if similar.len() == config.similar {
            break;
        }
        let diagnosed_cause = store
            .latest_diagnosis(t.id)?
            .map(|d| d.diagnosis.root_cause);
        let actions_taken = store
            .audit_for_ticket(t.id)?
            .into_iter()
            .filter(|e| e.kind == AuditKind::Action)
            .filter_map(|e| {
                e.body
                    .get("action")
                    .and_then(|a| a.get("action"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .collect();
        similar.push(PastTicket {
            id: t.id,
            entity: t.entity.clone(),
            severity: t.severity,
            message: t.message.clone(),
            first_seen: t.first_seen,
            resolved_at: t.resolved_at,
            resolution: t.resolution.clone(),
            diagnosed_cause,
            actions_taken,
        });
    }
    Ok((concurrent, similar))
}
