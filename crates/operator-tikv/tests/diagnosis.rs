//! Diagnosis of TiKV incidents through the same generic machinery as any subject: context
//! gathered from the ticket store and the subject's hook, the subject's offline rules, and the
//! agent (which, TiKV declaring no actions, can only diagnose and escalate).

mod support;

use std::sync::Arc;

use operator_core::agent::Outcome;
use operator_core::context::{ContextConfig, gather};
use operator_core::{
    Agent, AgentConfig, Diagnosable, InvariantChecker, Mode, OfflineDiagnoser, TicketStore,
};
use operator_tikv::{TikvChecker, TikvSubject};
use support::Cluster;

async fn diagnose(
    c: &Cluster,
    invariant: &str,
) -> (operator_core::Context, operator_core::DiagnosisReport) {
    let ticket = c
        .store
        .open_tickets("tikv")
        .unwrap()
        .into_iter()
        .find(|t| t.invariant == invariant)
        .unwrap();
    let subject = c.monitor.subject();
    let ctx = gather(
        &c.store,
        subject,
        TikvChecker::default().invariants(),
        &ticket,
        c.monitor.history(),
        None,
        &ContextConfig::default(),
    )
    .await
    .unwrap();
    let report = OfflineDiagnoser::new(subject.rules()).diagnose_now(&ctx);
    (ctx, report)
}

#[tokio::test]
async fn a_disconnected_store_is_diagnosed_from_its_own_rules_and_context() {
    let mut c = Cluster::start().await;
    c.tick().await;
    c.sim.set_store_state(4, "Disconnected");
    c.tick().await;
    let (ctx, r) = diagnose(&c, "store_down").await;
    assert_eq!(r.rule.as_deref(), Some("store_stopped_heartbeating"));
    assert!(r.diagnosis.summary.contains("stopped heartbeating to PD"));
    assert!(r.diagnosis.actions.is_empty(), "TiKV declares no actions");
    assert!(ctx.actions.is_empty());
    let stores = ctx.extra("stores").unwrap().as_array().unwrap();
    assert!(
        stores
            .iter()
            .any(|s| s["id"] == 4 && s["state"] == "Disconnected")
    );
    assert!(ctx.extra("pd_members").is_some());
    assert!(ctx.subject.description.contains("placement driver"));
}

#[tokio::test]
async fn a_store_down_with_a_full_disk_is_a_full_disk() {
    let mut c = Cluster::start().await;
    c.sim.set_available_fraction(4, 0.01);
    c.tick().await;
    c.sim.set_store_state(4, "Down");
    c.tick().await;
    let (_, r) = diagnose(&c, "store_down").await;
    assert_eq!(r.rule.as_deref(), Some("store_disk_full"));
    let (_, r) = diagnose(&c, "low_disk_space").await;
    assert_eq!(r.rule.as_deref(), Some("disk_filling"));
}

#[tokio::test]
async fn the_agent_escalates_what_no_declared_action_can_fix() {
    let mut c = Cluster::start().await;
    c.sim.set_member_health("pd2", false);
    c.tick().await;
    let store: Arc<TicketStore> = Arc::clone(&c.store);
    let mut agent: Agent<TikvSubject> = Agent::new(
        store,
        Arc::new(OfflineDiagnoser::new(c.monitor.subject().rules())),
        AgentConfig::default().mode(Mode::Execute),
    )
    .unwrap();
    let reports = agent
        .pass(c.monitor.subject(), c.monitor.checker())
        .await
        .unwrap();
    assert_eq!(reports.len(), 1, "{reports:#?}");
    assert_eq!(reports[0].outcome, Outcome::Escalated);
    assert!(
        reports[0]
            .detail
            .starts_with("no declared action addresses the diagnosed cause"),
        "{}",
        reports[0].detail
    );
    assert_eq!(
        reports[0].diagnosis.as_ref().unwrap().rule.as_deref(),
        Some("pd_member_down")
    );
    // Escalated once: the next pass leaves it alone.
    assert!(
        agent
            .pass(c.monitor.subject(), c.monitor.checker())
            .await
            .unwrap()
            .is_empty()
    );
}
