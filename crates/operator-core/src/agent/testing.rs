//! Fixtures for the agent's unit tests: one unit that a `fix` action may repair, its checker,
//! and a session on its ticket ([`Fixture`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::config::AgentConfig;
use super::state::Session;
use crate::action::{Action, ActionReport, ActionSpec};
use crate::diagnosis::{Diagnosable, OfflineDiagnoser};
use crate::history::History;
use crate::invariant::{InvariantChecker, InvariantSpec, Severity, Violation};
use crate::subject::Subject;
use crate::ticket::{Ticket, TicketStore};

/// The actions on the unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", content = "args", rename_all = "snake_case")]
pub(super) enum Fix {
    /// Repairs the unit (when fixes work).
    Fix { unit: String },
    /// Does nothing useful.
    Reboot {},
}

impl Action for Fix {
    fn catalog() -> Vec<ActionSpec> {
        vec![
            ActionSpec::new("fix", "fix a unit").param("unit", "string", "the unit"),
            ActionSpec::new("reboot", "reboot"),
        ]
    }

    fn name(&self) -> &'static str {
        match self {
            Fix::Fix { .. } => "fix",
            Fix::Reboot {} => "reboot",
        }
    }
}

/// Why an action on the unit failed.
#[derive(Debug, thiserror::Error)]
#[error("the unit is stuck")]
pub(super) struct Stuck;

/// One unit: observed broken or not; `fix` fails when `stuck`.
#[derive(Debug, Default)]
pub(super) struct Unit {
    pub(super) broken: AtomicBool,
    pub(super) stuck: bool,
}

impl Subject for Unit {
    type Observation = bool;
    type Action = Fix;
    type Error = Stuck;

    fn name(&self) -> &str {
        "unit"
    }

    fn description(&self) -> String {
        "one unit".into()
    }

    async fn observe(&self) -> Result<bool, Stuck> {
        Ok(self.broken.load(Ordering::SeqCst))
    }

    async fn execute(&self, action: &Fix) -> Result<ActionReport, Stuck> {
        if self.stuck {
            return Err(Stuck);
        }
        let changed =
            matches!(action, Fix::Fix { .. }) && self.broken.swap(false, Ordering::SeqCst);
        Ok(ActionReport {
            action: action.name().into(),
            changed,
            summary: "done".into(),
            details: serde_json::json!({}),
        })
    }
}

impl Diagnosable for Unit {}

/// `unit_ok[u]` while the unit is broken.
pub(super) struct UnitChecker;

impl InvariantChecker<bool> for UnitChecker {
    fn invariants(&self) -> Vec<InvariantSpec> {
        vec![InvariantSpec::new("unit_ok", "the unit works")]
    }

    fn check(&self, broken: &bool, _: &History<bool>) -> Vec<Violation> {
        if *broken {
            vec![Violation::new("unit_ok", Severity::Critical, "u is broken").entity("u")]
        } else {
            Vec::new()
        }
    }
}

/// The open ticket of the broken unit in a fresh store, and what a session on it borrows.
pub(super) struct Fixture {
    _dir: tempfile::TempDir,
    pub(super) store: Arc<TicketStore>,
    pub(super) ticket: Ticket,
    diagnoser: OfflineDiagnoser,
    history: History<bool>,
}

impl Fixture {
    pub(super) fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(TicketStore::open(dir.path().join("tickets.db")).unwrap());
        let violation = UnitChecker.check(&true, &History::new(1)).remove(0);
        let now = Utc::now();
        let id = store.upsert("unit", &violation, now, now).unwrap().id();
        let ticket = store.get(id).unwrap();
        Self {
            _dir: dir,
            store,
            ticket,
            diagnoser: OfflineDiagnoser::default(),
            history: History::new(5),
        }
    }

    /// A session of `unit` on the ticket, within `config`.
    pub(super) async fn session<'a>(
        &'a mut self,
        unit: &'a Unit,
        config: &'a AgentConfig,
    ) -> Session<'a, Unit, UnitChecker> {
        Session::start(
            Arc::clone(&self.store),
            &self.diagnoser,
            config,
            &mut self.history,
            unit,
            &UnitChecker,
            &self.ticket,
        )
        .await
        .unwrap()
    }
}
