//! `operator diagnose TICKET`: the context document of a ticket and its diagnosis.

use std::sync::Arc;

use chrono::Utc;
use clap::Args;
use operator_core::assess::observe_now;
use operator_core::context::gather;
use operator_core::ticket::AuditKind;
use operator_core::{Diagnosable, DiagnosisReport, InvariantChecker, Ticket, TicketStore};
use serde_json::json;

use crate::args::GlobalArgs;
use crate::args::{DiagnosisArgs, Profile, SubjectArgs, WithSubject};
use crate::exit::{self, CliResult};
use crate::output::print_json;

/// Flags of `operator diagnose`.
#[derive(Debug, Args)]
pub struct DiagnoseArgs {
    /// The ticket.
    pub ticket: i64,
    /// Print the context document only (no diagnosis).
    #[arg(long)]
    pub context_only: bool,
    /// How to diagnose.
    #[command(flatten)]
    pub diagnosis: DiagnosisArgs,
    /// The ticket's subject (taken from the ticket) and its connection, to observe it now (last,
    /// so its help headings close the list).
    #[command(flatten)]
    pub target: SubjectArgs,
}

/// Runs `operator diagnose`.
///
/// The subject is the ticket's; a `--subject` that disagrees is a usage error.
pub async fn run(global: &GlobalArgs, args: DiagnoseArgs) -> CliResult {
    let store = global.open_store()?;
    let id = args.ticket;
    let ticket = store
        .call(move |s| s.get(id))
        .await
        .map_err(exit::ticket_lookup)?;
    let mut target = args.target.clone();
    target.for_ticket(ticket.id, &ticket.subject)?;
    target
        .visit(Diagnose {
            json: global.json,
            args,
            store,
            ticket,
        })
        .await?
}

struct Diagnose {
    json: bool,
    args: DiagnoseArgs,
    store: Arc<TicketStore>,
    ticket: Ticket,
}

impl WithSubject for Diagnose {
    type Output = CliResult;

    async fn with<S, C>(self, subject: S, checker: C, profile: Profile) -> CliResult
    where
        S: Diagnosable,
        C: InvariantChecker<S::Observation>,
    {
        let Diagnose {
            json,
            args,
            store,
            ticket,
        } = self;
        let diagnoser = if args.context_only {
            None
        } else {
            Some(args.diagnosis.diagnoser(subject.rules())?)
        };
        let (recent, now) = observe_now(&subject, &checker, &ticket, profile.observe_timeout).await;
        let config = args.diagnosis.context();
        let mut ctx = gather(
            &store,
            &subject,
            checker.invariants(),
            &ticket,
            &recent,
            Some(now),
            &config,
        )
        .await?;
        ctx.trim(config.budget);
        let Some(diagnoser) = diagnoser else {
            if json {
                print_json(&serde_json::to_value(&ctx).map_err(anyhow::Error::from)?);
            } else {
                print!("{}", ctx.to_markdown());
            }
            return Ok(exit::OK);
        };
        let report = diagnoser.diagnose(&ctx).await?;
        {
            let report = report.clone();
            store.call(move |s| record(s, &report)).await?;
        }
        if json {
            print_json(&json!({ "context": ctx, "diagnosis": report }));
        } else {
            println!("{}", ctx.to_markdown());
            println!("---\n");
            print!("{}", report.to_markdown());
        }
        Ok(exit::OK)
    }
}

/// Keeps the diagnosis with its ticket, and its model exchanges in the audit trail.
fn record(store: &TicketStore, report: &DiagnosisReport) -> operator_core::Result<()> {
    let now = Utc::now();
    for x in &report.exchanges {
        store.add_audit(
            report.ticket,
            None,
            &AuditKind::Prompt,
            &format!("{}/{} attempt {}", x.provider, x.model, x.attempt),
            Some(&x.request),
            &json!({ "provider": x.provider, "model": x.model, "attempt": x.attempt, "text": x.request }),
            now,
        )?;
        store.add_audit(
            report.ticket,
            None,
            &AuditKind::Response,
            &format!(
                "{} in {} ms",
                x.status
                    .map_or_else(|| "no answer".to_owned(), |s| format!("HTTP {s}")),
                x.duration_ms
            ),
            Some(&x.response),
            &json!({ "status": x.status, "duration_ms": x.duration_ms, "text": x.response }),
            now,
        )?;
    }
    store.add_diagnosis(None, report)?;
    store.add_audit(
        report.ticket,
        None,
        &AuditKind::Diagnosis,
        &format!(
            "{} ({:.0}%, by {}{})",
            report.diagnosis.root_cause,
            report.diagnosis.confidence * 100.0,
            report.diagnoser,
            report
                .fallback
                .as_deref()
                .map(|f| format!("; fallback: {f}"))
                .unwrap_or_default()
        ),
        None,
        &serde_json::to_value(report)?,
        now,
    )?;
    Ok(())
}
