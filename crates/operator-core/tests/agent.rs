//! The agent on a machine with typed actions, under paused time: what each mode changes, how a
//! fix is verified, and how a ticket that cannot be fixed is escalated exactly once.

mod support;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use operator_core::agent::Outcome;
use operator_core::diagnosis::{
    DiagnoseError, DiagnoseErrorKind, Diagnoser, DiagnosisReport, Usage,
};
use operator_core::ticket::EventKind;
use operator_core::{
    Agent, AgentConfig, Context, Diagnosable, Mode, MonitorConfig, MonitorLoop, OfflineDiagnoser,
    TicketStatus, TicketStore,
};
use support::machine::{Machine, MachineChecker};

struct Setup {
    machine: Machine,
    store: Arc<TicketStore>,
    _dir: tempfile::TempDir,
}

/// A machine with unit `a` broken, and its ticket opened by one monitor tick.
async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(TicketStore::open(dir.path().join("t.db")).unwrap());
    let machine = Machine::new();
    let mut monitor = MonitorLoop::new(
        machine.clone(),
        MachineChecker,
        Arc::clone(&store),
        MonitorConfig::default().immediate(true),
    )
    .unwrap();
    monitor.tick().await.unwrap();
    machine.break_unit("a");
    monitor.tick().await.unwrap();
    assert_eq!(store.open_tickets("machine").unwrap().len(), 1);
    Setup {
        machine,
        store,
        _dir: dir,
    }
}

fn agent(s: &Setup, config: AgentConfig) -> Agent<Machine> {
    let offline = OfflineDiagnoser::new(s.machine.rules());
    Agent::new(Arc::clone(&s.store), Arc::new(offline), config).unwrap()
}

fn kinds(s: &Setup, session: i64) -> Vec<String> {
    s.store
        .audit_for_session(session)
        .unwrap()
        .into_iter()
        .map(|e| e.kind.to_string())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn execute_runs_the_allowed_fix_and_resolves_after_verification() {
    let s = setup().await;
    let mut a = agent(&s, AgentConfig::default().mode(Mode::Execute).allow("fix"));
    let reports = a.pass(&s.machine, &MachineChecker).await.unwrap();
    assert_eq!(reports.len(), 1);
    let r = &reports[0];
    assert_eq!(r.outcome, Outcome::Resolved, "{r:#?}");
    assert_eq!(s.machine.executed(), ["fix"]);
    let v = r.verification.as_ref().unwrap();
    assert!(v.clear && v.observations >= 2, "{v:?}");
    let t = s.store.get(r.ticket).unwrap();
    assert_eq!(t.status, TicketStatus::Resolved);
    let note = t.resolution.unwrap();
    assert!(
        note.starts_with("resolved by agent after verification in"),
        "{note}"
    );
    assert_eq!(
        kinds(&s, r.session),
        [
            "observation",
            "context",
            "diagnosis",
            "plan",
            "action",
            "verification",
            "resolution"
        ]
    );
    let session = s.store.session(r.session).unwrap();
    assert_eq!(session.outcome, Some(Outcome::Resolved));
    assert_eq!(session.mode, Mode::Execute);
    assert_eq!(session.steps, 1);
    let events: Vec<String> = s
        .store
        .events(r.ticket)
        .unwrap()
        .into_iter()
        .map(|e| e.kind.to_string())
        .collect();
    assert_eq!(events, ["opened", "agent_action", "resolved"]);
    assert_eq!(s.store.diagnoses(r.ticket).unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn observe_and_propose_change_nothing_and_do_not_repeat() {
    let s = setup().await;
    let mut a = agent(&s, AgentConfig::default().mode(Mode::Observe));
    let r = a.pass(&s.machine, &MachineChecker).await.unwrap();
    assert_eq!(r[0].outcome, Outcome::Observed);
    assert!(r[0].plan.is_empty());
    assert!(
        a.pass(&s.machine, &MachineChecker)
            .await
            .unwrap()
            .is_empty()
    );

    let mut a = agent(&s, AgentConfig::default().allow("fix"));
    assert_eq!(a.config().mode, Mode::Propose, "propose is the default");
    let r = a.pass(&s.machine, &MachineChecker).await.unwrap();
    assert_eq!(r[0].outcome, Outcome::Proposed);
    assert_eq!(r[0].plan.len(), 1);
    assert!(r[0].detail.contains("\"fix\""), "{}", r[0].detail);
    assert!(
        a.pass(&s.machine, &MachineChecker)
            .await
            .unwrap()
            .is_empty()
    );

    assert!(s.machine.executed().is_empty(), "nothing ran");
    let t = s.store.get(r[0].ticket).unwrap();
    assert_eq!(t.status, TicketStatus::Open);
}

#[tokio::test(start_paused = true)]
async fn a_fix_that_is_not_allowed_escalates_once() {
    let s = setup().await;
    let mut a = agent(&s, AgentConfig::default().mode(Mode::Execute));
    let r = a.pass(&s.machine, &MachineChecker).await.unwrap();
    assert_eq!(r[0].outcome, Outcome::Escalated);
    assert!(
        r[0].detail
            .contains("recommended fix not allowed (allowed: none)"),
        "{}",
        r[0].detail
    );
    assert!(s.machine.executed().is_empty());
    // Not retried, even by a new agent (a restart).
    let mut again = agent(&s, AgentConfig::default().mode(Mode::Execute).allow("fix"));
    assert!(
        again
            .pass(&s.machine, &MachineChecker)
            .await
            .unwrap()
            .is_empty()
    );
    let escalations = s
        .store
        .events(r[0].ticket)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == EventKind::Escalated)
        .count();
    assert_eq!(escalations, 1);
    assert_eq!(s.store.get(r[0].ticket).unwrap().status, TicketStatus::Open);
}

#[tokio::test(start_paused = true)]
async fn a_fix_that_does_not_work_is_escalated_after_the_verification_deadline() {
    let s = setup().await;
    s.machine.state.lock().unwrap().fixes_work = false;
    let config = AgentConfig::default()
        .mode(Mode::Execute)
        .allow("fix")
        .verify_timeout(Duration::from_secs(5));
    let mut a = agent(&s, config);
    let started = tokio::time::Instant::now();
    let r = a.pass(&s.machine, &MachineChecker).await.unwrap();
    assert_eq!(r[0].outcome, Outcome::Escalated, "{:#?}", r[0]);
    assert!(
        r[0].detail
            .contains("fix already ran and the violation persists"),
        "{}",
        r[0].detail
    );
    assert_eq!(s.machine.executed(), ["fix"], "tried once, not in a loop");
    let v = r[0].verification.as_ref().unwrap();
    assert!(!v.clear && v.after_ms >= 4_500, "{v:?}");
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[tokio::test(start_paused = true)]
async fn the_step_cap_bounds_the_actions_run() {
    let s = setup().await;
    {
        let mut st = s.machine.state.lock().unwrap();
        st.fixes_work = false;
        st.recommend_reboot = true;
    }
    let config = AgentConfig::default()
        .mode(Mode::Execute)
        .allow("fix")
        .allow("reboot")
        .max_steps(1)
        .verify_timeout(Duration::from_secs(2));
    let mut a = agent(&s, config);
    let r = a.pass(&s.machine, &MachineChecker).await.unwrap();
    assert_eq!(s.machine.executed(), ["fix"]);
    assert_eq!(r[0].outcome, Outcome::Escalated);
    assert!(
        r[0].detail.contains("step cap (1) is reached"),
        "{}",
        r[0].detail
    );
}

#[tokio::test(start_paused = true)]
async fn a_violation_already_clear_is_left_to_the_monitor() {
    let s = setup().await;
    s.machine.state.lock().unwrap().broken.clear();
    let mut a = agent(&s, AgentConfig::default().mode(Mode::Execute).allow("fix"));
    let r = a.pass(&s.machine, &MachineChecker).await.unwrap();
    assert_eq!(r[0].outcome, Outcome::AlreadyClear);
    assert!(s.machine.executed().is_empty());
    assert!(
        a.pass(&s.machine, &MachineChecker)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Spends 10k tokens per diagnosis and recommends nothing useful.
struct Costly;

#[async_trait]
impl Diagnoser for Costly {
    fn name(&self) -> String {
        "costly".into()
    }

    async fn diagnose(&self, _: &Context) -> Result<DiagnosisReport, DiagnoseError> {
        Err(
            DiagnoseError::new(DiagnoseErrorKind::Unavailable, "model down").with_exchanges(
                vec![],
                Usage {
                    input_tokens: 9_000,
                    output_tokens: 1_000,
                },
            ),
        )
    }
}

#[tokio::test(start_paused = true)]
async fn a_failing_model_falls_back_offline_and_tokens_are_counted() {
    let s = setup().await;
    let offline = OfflineDiagnoser::new(s.machine.rules());
    let fallback = operator_core::Fallback::new(Box::new(Costly), offline);
    let mut a: Agent<Machine> = Agent::new(
        Arc::clone(&s.store),
        Arc::new(fallback),
        AgentConfig::default().mode(Mode::Execute).allow("fix"),
    )
    .unwrap();
    let r = a.pass(&s.machine, &MachineChecker).await.unwrap();
    assert_eq!(r[0].outcome, Outcome::Resolved);
    assert_eq!(r[0].tokens, 10_000);
    let d = r[0].diagnosis.as_ref().unwrap();
    assert_eq!(d.diagnoser, "offline");
    assert!(d.fallback.as_deref().unwrap().contains("model down"));

    // Without the fallback, the token cap stops a second diagnosis.
    let s = setup().await;
    let mut a: Agent<Machine> = Agent::new(
        Arc::clone(&s.store),
        Arc::new(Costly),
        AgentConfig::default()
            .mode(Mode::Execute)
            .allow("fix")
            .max_tokens(5_000),
    )
    .unwrap();
    let r = a.pass(&s.machine, &MachineChecker).await.unwrap();
    assert_eq!(r[0].outcome, Outcome::Escalated);
    assert!(
        r[0].detail.contains("no diagnosis: model down"),
        "{}",
        r[0].detail
    );
}

#[test]
fn allowing_an_undeclared_action_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(TicketStore::open(dir.path().join("t.db")).unwrap());
    let err = Agent::<Machine>::new(
        store,
        Arc::new(OfflineDiagnoser::default()),
        AgentConfig::default().allow("rm_rf"),
    )
    .err()
    .unwrap();
    assert!(
        err.to_string()
            .contains("\"rm_rf\" is not an action of this subject (declared: fix, reboot)"),
        "{err}"
    );
}
