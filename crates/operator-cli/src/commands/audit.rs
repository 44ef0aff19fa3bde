//! `operator audit`: what the agent did, session by session and step by step.

use clap::Subcommand;
use operator_core::TicketStore;
use serde_json::json;

use crate::args::GlobalArgs;
use crate::exit::{self, CliResult};
use crate::output::{self, print_json};

/// Audit commands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// List agent sessions, newest first.
    List {
        /// Only the sessions of this ticket.
        #[arg(long)]
        ticket: Option<i64>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Show one session: every observation, context, prompt, response, diagnosis, plan,
    /// action, verification and conclusion, in order.
    Show {
        /// Session id.
        session: i64,
        /// Print each step's full record (prompts and responses included), not only its summary.
        #[arg(long)]
        full: bool,
    },
}

/// Runs an `audit` command.
pub fn run(global: &GlobalArgs, cmd: AuditCommand) -> CliResult {
    let store = global.open_store()?;
    match cmd {
        AuditCommand::List { ticket, limit } => list(&store, ticket, limit, global.json),
        AuditCommand::Show { session, full } => show(&store, session, full, global.json),
    }
}

fn list(store: &TicketStore, ticket: Option<i64>, limit: usize, json: bool) -> CliResult {
    let sessions = store.sessions(ticket, limit)?;
    if json {
        print_json(&serde_json::to_value(&sessions).map_err(anyhow::Error::from)?);
        return Ok(exit::OK);
    }
    if sessions.is_empty() {
        println!("no agent sessions");
        return Ok(exit::OK);
    }
    println!(
        "{:>5}  {:>6}  {:<8} {:<14} {:>5} {:>7}  {:<20}  DETAIL",
        "ID", "TICKET", "MODE", "OUTCOME", "STEPS", "TOKENS", "STARTED"
    );
    for s in &sessions {
        println!(
            "{:>5}  {:>6}  {:<8} {:<14} {:>5} {:>7}  {:<20}  {}",
            s.id,
            s.ticket_id,
            s.mode,
            s.outcome.as_ref().map_or("(unfinished)", |o| o.as_str()),
            s.steps,
            s.tokens,
            output::ts(s.started_at),
            s.detail.as_deref().unwrap_or("")
        );
    }
    Ok(exit::OK)
}

fn show(store: &TicketStore, id: i64, full: bool, json: bool) -> CliResult {
    let session = store.session(id).map_err(|_| exit::no_session(id))?;
    let entries = store.audit_for_session(id)?;
    if json {
        print_json(&json!({ "session": session, "entries": entries }));
        return Ok(exit::OK);
    }
    println!(
        "Session #{} · ticket #{} · {} mode · {} · {}",
        session.id,
        session.ticket_id,
        session.mode,
        session.diagnoser,
        session
            .outcome
            .as_ref()
            .map_or("(unfinished)", |o| o.as_str())
    );
    println!(
        "  started {}{}; {} steps, {} tokens",
        output::ts(session.started_at),
        session
            .finished_at
            .map(|f| format!(", finished {}", output::ts(f)))
            .unwrap_or_default(),
        session.steps,
        session.tokens
    );
    if let Some(d) = &session.detail {
        println!("  {d}");
    }
    println!("Steps:");
    for e in &entries {
        let digest = e
            .digest
            .as_deref()
            .map(|d| format!(" [{}]", &d[..d.len().min(19)]))
            .unwrap_or_default();
        println!(
            "  {}  {:<13} {}{digest}",
            output::ts(e.at),
            e.kind,
            e.summary
        );
        if full {
            let body = serde_json::to_string_pretty(&e.body).unwrap_or_default();
            for line in body.lines() {
                println!("      {line}");
            }
        }
    }
    Ok(exit::OK)
}
