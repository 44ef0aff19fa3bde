//! The dashboard's state: a view model built from tick reports, entity tables and tickets, moved
//! by keys. Pure: no terminal, no clock (times come with the reports), so every screen is a test.

use chrono::{DateTime, Utc};
use operator_core::{Severity, TickReport, Ticket};

/// Whether an invariant is clear, seen but within its pending period, or firing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Not violated.
    Ok,
    /// Violated, within its pending period (or, read-only, seen with no ticket yet).
    Pending,
    /// Firing: a ticket is open.
    Firing,
}

impl Level {
    /// `ok`, `pending`, `firing`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Pending => "pending",
            Level::Firing => "firing",
        }
    }
}

/// One invariant and its alert state.
#[derive(Debug, Clone, PartialEq)]
pub struct InvariantRow {
    /// Its name.
    pub name: String,
    /// The worst state among its entities.
    pub level: Level,
    /// Since when it is in that state (the earliest entity's).
    pub since: Option<DateTime<Utc>>,
    /// The worst severity seen, when violated.
    pub severity: Option<Severity>,
    /// Entities violating it.
    pub entities: usize,
}

/// One part of the subject (a node, Redis, a shard, a store...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityRow {
    /// Its name.
    pub name: String,
    /// Its state in a word or two (`ready`, `down: connection refused`).
    pub state: String,
    /// Whether that state is healthy.
    pub healthy: bool,
    /// The other columns, in the order of [`Entities::headers`].
    pub cells: Vec<String>,
}

/// The subject's entities as a table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entities {
    /// Headers of the columns after name and state.
    pub headers: Vec<String>,
    /// The rows.
    pub rows: Vec<EntityRow>,
}

/// What a key press asks of the shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Nothing beyond redrawing.
    None,
    /// Diagnose this ticket (offline) and show it.
    Diagnose(i64),
    /// Leave.
    Quit,
}

/// A key, as the dashboard understands it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// Up arrow or `k`.
    Up,
    /// Down arrow or `j`.
    Down,
    /// Enter: open the selected ticket.
    Enter,
    /// Esc: close the ticket.
    Back,
    /// `q` or Ctrl-C.
    Quit,
    /// Anything else.
    Other,
}

/// The selected ticket's diagnosis, once computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detail {
    /// The ticket.
    pub ticket: i64,
    /// Lines to show.
    pub lines: Vec<String>,
}

/// Everything the screen shows.
#[derive(Debug, Clone)]
pub struct Dashboard {
    /// The subject's name.
    pub subject: String,
    /// Whether another monitor keeps the tickets (`--read-only`).
    pub read_only: bool,
    /// When the last observation started; none before the first.
    pub observed_at: Option<DateTime<Utc>>,
    /// Why the last observation failed, if it did.
    pub observation_error: Option<String>,
    /// Observations shown so far.
    pub observations: u64,
    /// The entities.
    pub entities: Entities,
    /// Every invariant, in the checker's order.
    pub invariants: Vec<InvariantRow>,
    /// The open tickets, oldest first.
    pub tickets: Vec<Ticket>,
    /// The selected ticket's index in [`tickets`](Self::tickets).
    pub selected: usize,
    /// The opened ticket's diagnosis, or the ticket being diagnosed (`lines` empty).
    pub detail: Option<Detail>,
}

impl Dashboard {
    /// An empty dashboard of `subject` with its invariants' names.
    pub fn new(subject: &str, invariants: Vec<String>, read_only: bool) -> Self {
        Self {
            subject: subject.to_owned(),
            read_only,
            observed_at: None,
            observation_error: None,
            observations: 0,
            entities: Entities::default(),
            invariants: invariants
                .into_iter()
                .map(|name| InvariantRow {
                    name,
                    level: Level::Ok,
                    since: None,
                    severity: None,
                    entities: 0,
                })
                .collect(),
            tickets: Vec::new(),
            selected: 0,
            detail: None,
        }
    }

    /// Takes in one observation: its report and the entities it showed (kept from the last
    /// successful observation when this one failed).
    pub fn observed(&mut self, report: &TickReport, entities: Option<Entities>) {
        self.observed_at = Some(report.observed_at);
        self.observation_error.clone_from(&report.observation_error);
        self.observations += 1;
        if let Some(e) = entities {
            self.entities = e;
        }
        for row in &mut self.invariants {
            row.level = Level::Ok;
            row.since = None;
            row.severity = None;
            row.entities = 0;
        }
        let tracked = report
            .firing
            .iter()
            .map(|a| (a, Level::Firing))
            .chain(report.pending.iter().map(|a| (a, Level::Pending)));
        for (active, level) in tracked {
            let name = &active.violation.invariant;
            let row = match self.invariants.iter_mut().position(|r| &r.name == name) {
                Some(i) => &mut self.invariants[i],
                None => {
                    self.invariants.push(InvariantRow {
                        name: name.clone(),
                        level: Level::Ok,
                        since: None,
                        severity: None,
                        entities: 0,
                    });
                    self.invariants.last_mut().expect("just pushed")
                }
            };
            if level > row.level {
                row.level = level;
                row.since = Some(active.since);
            } else if level == row.level {
                row.since = Some(row.since.map_or(active.since, |s| s.min(active.since)));
            }
            row.severity = row.severity.max(Some(active.violation.severity));
            row.entities += 1;
        }
    }

    /// Takes in the open tickets, keeping the selection on the same ticket when it is still
    /// open.
    pub fn set_tickets(&mut self, tickets: Vec<Ticket>) {
        let selected = self.selected_ticket();
        self.tickets = tickets;
        self.selected = selected
            .and_then(|id| self.tickets.iter().position(|t| t.id == id))
            .unwrap_or(self.selected)
            .min(self.tickets.len().saturating_sub(1));
    }

    /// The selected ticket's id.
    pub fn selected_ticket(&self) -> Option<i64> {
        self.tickets.get(self.selected).map(|t| t.id)
    }

    /// Whether nothing is firing.
    pub fn healthy(&self) -> bool {
        self.observation_error.is_none() && self.invariants.iter().all(|r| r.level != Level::Firing)
    }

    /// Handles a key.
    pub fn key(&mut self, key: Key) -> Command {
        match key {
            Key::Quit => Command::Quit,
            Key::Up => {
                self.selected = self.selected.saturating_sub(1);
                Command::None
            }
            Key::Down => {
                if self.selected + 1 < self.tickets.len() {
                    self.selected += 1;
                }
                Command::None
            }
            Key::Enter => match self.selected_ticket() {
                Some(ticket) => {
                    self.detail = Some(Detail {
                        ticket,
                        lines: Vec::new(),
                    });
                    Command::Diagnose(ticket)
                }
                None => Command::None,
            },
            Key::Back => {
                self.detail = None;
                Command::None
            }
            Key::Other => Command::None,
        }
    }

    /// Shows the diagnosis of `ticket`, if it is still the one opened.
    pub fn diagnosed(&mut self, ticket: i64, lines: Vec<String>) {
        if let Some(d) = &mut self.detail
            && d.ticket == ticket
        {
            d.lines = lines;
        }
    }
}
