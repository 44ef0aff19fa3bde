//! A subject with typed actions for agent and context tests: units that break, and a `fix`
//! action that repairs them (or, when the test says so, does nothing).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use operator_core::context::ContextSection;
use operator_core::diagnosis::{Finding, Recommendation, Rule};
use operator_core::{
    Action, ActionReport, ActionSpec, Diagnosable, History, InvariantChecker, InvariantSpec,
    Severity, Subject, Ticket, Violation,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// What the machine looks like.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MachineObs {
    pub broken: Vec<String>,
    pub padding: String,
}

/// Its actions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", content = "args", rename_all = "snake_case")]
pub enum MachineAction {
    Fix { unit: String },
    Reboot {},
}

impl Action for MachineAction {
    fn catalog() -> Vec<ActionSpec> {
        vec![
            ActionSpec::new("fix", "repair one unit").param("unit", "string", "the unit"),
            ActionSpec::new("reboot", "reboot everything").not_idempotent(),
        ]
    }

    fn name(&self) -> &'static str {
        match self {
            MachineAction::Fix { .. } => "fix",
            MachineAction::Reboot {} => "reboot",
        }
    }
}

#[derive(Debug, Default)]
pub struct State {
    pub broken: BTreeSet<String>,
    /// `fix` does nothing when false.
    pub fixes_work: bool,
    /// Every action executed, by name.
    pub executed: Vec<String>,
    /// Bytes of filler in each observation, to test the budget.
    pub padding: usize,
    /// Recommend `reboot` too.
    pub recommend_reboot: bool,
}

/// The machine; clones share state.
#[derive(Debug, Clone, Default)]
pub struct Machine {
    pub state: Arc<Mutex<State>>,
}

#[derive(Debug, thiserror::Error)]
#[error("machine: {0}")]
pub struct MachineError(String);

impl Machine {
    pub fn new() -> Self {
        let m = Self::default();
        m.state.lock().unwrap().fixes_work = true;
        m
    }

    pub fn break_unit(&self, unit: &str) {
        self.state.lock().unwrap().broken.insert(unit.to_owned());
    }

    pub fn executed(&self) -> Vec<String> {
        self.state.lock().unwrap().executed.clone()
    }
}

impl Subject for Machine {
    type Observation = MachineObs;
    type Action = MachineAction;
    type Error = MachineError;

    fn name(&self) -> &str {
        "machine"
    }

    fn description(&self) -> String {
        "A machine of units, configured from db://admin:hunter2@db:5432/units.".into()
    }

    async fn observe(&self) -> Result<MachineObs, MachineError> {
        let s = self.state.lock().unwrap();
        Ok(MachineObs {
            broken: s.broken.iter().cloned().collect(),
            padding: "x".repeat(s.padding),
        })
    }

    async fn execute(&self, action: &MachineAction) -> Result<ActionReport, MachineError> {
        let mut s = self.state.lock().unwrap();
        s.executed.push(action.name().to_owned());
        let changed = match action {
            MachineAction::Fix { unit } if s.fixes_work => s.broken.remove(unit),
            _ => false,
        };
        Ok(ActionReport {
            action: action.name().into(),
            changed,
            summary: format!("{} ran", action.name()),
            details: json!({}),
        })
    }
}

impl Diagnosable for Machine {
    async fn context(&self, ticket: &Ticket, latest: Option<&MachineObs>) -> Vec<ContextSection> {
        vec![ContextSection::new(
            "logs",
            "the machine's log",
            json!([
                format!("unit {:?} failed", ticket.entity),
                "retrying with Authorization: Bearer tok-123456",
                format!("{} units broken", latest.map_or(0, |o| o.broken.len())),
            ]),
        )]
    }

    fn rules(&self) -> Vec<Rule> {
        let reboot = self.state.lock().unwrap().recommend_reboot;
        vec![
            Rule::new(
                "unit_wedged",
                &["unit_ok"],
                "the unit is wedged",
                "the unit is listed broken in the latest observation",
                move |ctx| {
                    let unit = ctx.ticket.entity.clone()?;
                    let (_, _, obs) = ctx.latest_as::<MachineObs>()?;
                    obs.broken.contains(&unit).then(|| {
                        let mut f = Finding::new(0.8, format!("unit {unit} is wedged; fix it"))
                            .cite("observations[-1].broken", format!("{unit} listed broken"))
                            .action(Recommendation::typed(
                                &MachineAction::Fix { unit: unit.clone() },
                                "repairs the unit",
                            ));
                        if reboot {
                            f = f.action(Recommendation::typed(
                                &MachineAction::Reboot {},
                                "last resort",
                            ));
                        }
                        f
                    })
                },
            ),
            Rule::new(
                "cosmic_rays",
                &["unit_ok"],
                "a bit flipped",
                "an ECC error in the log",
                |_| None,
            ),
        ]
    }
}

/// `unit_ok[unit]` for each broken unit, with a secret in the evidence.
pub struct MachineChecker;

impl InvariantChecker<MachineObs> for MachineChecker {
    fn invariants(&self) -> Vec<InvariantSpec> {
        vec![
            InvariantSpec::new("unit_ok", "every unit works"),
            InvariantSpec::new("fan_ok", "the fan spins"),
        ]
    }

    fn check(&self, current: &MachineObs, _: &History<MachineObs>) -> Vec<Violation> {
        current
            .broken
            .iter()
            .map(|u| {
                Violation::new("unit_ok", Severity::Critical, format!("unit {u} is broken"))
                    .entity(u)
                    .evidence(json!({ "unit": u, "password": "hunter2", "dsn": "db://admin:hunter2@db/x" }))
            })
            .collect()
    }
}
