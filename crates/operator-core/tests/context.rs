//! The context document of a ticket: what it gathers, what it redacts, and how it fits a budget.

mod support;

use std::sync::Arc;

use chrono::Utc;
use operator_core::assess::{Status, assess};
use operator_core::context::{ContextConfig, Now, Phase, gather};
use operator_core::{
    Diagnosable, History, InvariantChecker, MonitorConfig, MonitorLoop, OfflineDiagnoser, Subject,
    TicketStore,
};
use support::machine::{Machine, MachineChecker};
use tokio::time::Instant;

struct Setup {
    machine: Machine,
    store: Arc<TicketStore>,
    monitor: MonitorLoop<Machine, MachineChecker>,
    _dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(TicketStore::open(dir.path().join("t.db")).unwrap());
    let machine = Machine::new();
    let monitor = MonitorLoop::new(
        machine.clone(),
        MachineChecker,
        Arc::clone(&store),
        MonitorConfig::default().immediate(true),
    )
    .unwrap();
    Setup {
        machine,
        store,
        monitor,
        _dir: dir,
    }
}

/// Three healthy observations, then `b` and later `a` break: tickets for both.
async fn incident(s: &mut Setup) -> i64 {
    for _ in 0..3 {
        s.monitor.tick().await.unwrap();
    }
    s.machine.break_unit("b");
    s.monitor.tick().await.unwrap();
    s.machine.break_unit("a");
    s.monitor.tick().await.unwrap();
    s.monitor.tick().await.unwrap();
    s.store
        .open_tickets("machine")
        .unwrap()
        .into_iter()
        .find(|t| t.entity.as_deref() == Some("a"))
        .unwrap()
        .id
}

async fn context_of(s: &Setup, id: i64, config: &ContextConfig) -> operator_core::Context {
    let ticket = s.store.get(id).unwrap();
    let mut recent = History::new(5);
    let obs = s.machine.observe().await.unwrap();
    let a = assess(&MachineChecker, &ticket.key(), &obs, &recent);
    recent.push(Utc::now(), Instant::now(), Arc::new(obs));
    let now = Now {
        at: Utc::now(),
        status: a.status,
        violations: a.violations,
        error: None,
    };
    gather(
        &s.store,
        &s.machine,
        MachineChecker.invariants(),
        &ticket,
        &recent,
        Some(now),
        config,
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn the_document_holds_the_whole_story() {
    let mut s = setup().await;
    // An earlier incident of unit a, fixed by the agent and diagnosed.
    s.machine.break_unit("a");
    s.monitor.tick().await.unwrap();
    let old = s.store.open_tickets("machine").unwrap()[0].id;
    let offline = OfflineDiagnoser::new(s.machine.rules());
    let ctx = context_of(&s, old, &ContextConfig::default()).await;
    s.store
        .add_diagnosis(None, &offline.diagnose_now(&ctx))
        .unwrap();
    s.store
        .add_audit(
            old,
            None,
            &operator_core::ticket::AuditKind::Action,
            "ran fix",
            None,
            &serde_json::json!({"action": {"action": "fix", "args": {"unit": "a"}}}),
            Utc::now(),
        )
        .unwrap();
    s.machine.state.lock().unwrap().broken.clear();
    s.monitor.tick().await.unwrap();

    let id = incident(&mut s).await;
    let ctx = context_of(&s, id, &ContextConfig::default()).await;
    assert_eq!(ctx.ticket.id, id);
    assert_eq!(ctx.invariant.as_ref().unwrap().name, "unit_ok");
    assert_eq!(ctx.other_invariants[0].name, "fan_ok");
    assert_eq!(ctx.actions.len(), 2);
    assert_eq!(ctx.now.as_ref().unwrap().status, Status::Violated);
    let phases: Vec<Phase> = ctx.observations.iter().map(|o| o.phase).collect();
    assert!(phases.contains(&Phase::Before), "{phases:?}");
    assert!(phases.contains(&Phase::Opened), "{phases:?}");
    assert_eq!(phases.last(), Some(&Phase::Current));
    assert!(ctx.observations.windows(2).all(|w| w[0].at < w[1].at));
    // b broke first and is still open: concurrent.
    assert_eq!(ctx.concurrent.len(), 1);
    assert_eq!(ctx.concurrent[0].entity.as_deref(), Some("b"));
    // The earlier incident, with its diagnosis and the action taken.
    assert_eq!(ctx.similar.len(), 1);
    assert_eq!(ctx.similar[0].id, old);
    assert_eq!(
        ctx.similar[0].diagnosed_cause.as_deref(),
        Some("the unit is wedged")
    );
    assert_eq!(ctx.similar[0].actions_taken, ["fix"]);
    assert_eq!(ctx.extra("logs").unwrap().as_array().unwrap().len(), 3);
    let md = ctx.to_markdown();
    for section in [
        "# Context of ticket",
        "## Evidence",
        "## Now",
        "## Other tickets open at the same time",
        "## Similar past tickets",
        "## Declared actions",
        "`fix(unit: string)`",
        "## Observations",
        "## logs",
    ] {
        assert!(md.contains(section), "{section:?} missing from:\n{md}");
    }
}

#[tokio::test]
async fn secrets_are_redacted_everywhere() {
    let mut s = setup().await;
    let id = incident(&mut s).await;
    let ctx = context_of(&s, id, &ContextConfig::default()).await;
    let json = serde_json::to_string(&ctx).unwrap();
    let md = ctx.to_markdown();
    for doc in [&json, &md] {
        assert!(!doc.contains("hunter2"), "password leaked");
        assert!(!doc.contains("tok-123456"), "token leaked");
    }
    assert!(ctx.subject.description.contains("db://admin:***@db:5432"));
    assert_eq!(ctx.ticket.evidence["password"], "***");
    assert!(json.contains("Bearer ***"));
}

#[tokio::test]
async fn the_budget_holds_and_says_what_was_dropped() {
    let mut s = setup().await;
    s.machine.state.lock().unwrap().padding = 2_000;
    let id = incident(&mut s).await;
    let full = context_of(&s, id, &ContextConfig::default()).await;
    assert!(full.size() > 12_000, "{}", full.size());
    for budget in [12_000, 8_000, 4_000] {
        let t = full.trimmed(budget);
        assert!(
            t.size() <= budget,
            "{} > {budget}: {:?}",
            t.size(),
            t.trimmed
        );
        assert!(!t.trimmed.is_empty());
        // Whole entries only: every observation left is intact.
        for o in &t.observations {
            assert_eq!(o.observation["padding"].as_str().unwrap().len(), 2_000);
        }
        // The ticket and its evidence stay as long as possible.
        assert_eq!(t.ticket.message, full.ticket.message);
    }
    let t = full.trimmed(12_000);
    assert!(
        t.trimmed[0].starts_with("observations: dropped"),
        "{:?}",
        t.trimmed
    );
    let phases: Vec<Phase> = t.observations.iter().map(|o| o.phase).collect();
    assert!(
        phases.contains(&Phase::Opened) && phases.contains(&Phase::Current),
        "{phases:?}"
    );
    assert_eq!(full.trimmed(1_000_000), full, "under budget: untouched");
}
