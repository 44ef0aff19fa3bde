//! `operator tickets`: list, show, resolve, hold, unhold and prune tickets.

use chrono::Utc;
use clap::{Args, Subcommand, ValueEnum};
use operator_core::ticket::{AgentSession, AuditEntry, TicketEvent, TicketFilter, TicketStatus};
use operator_core::{DiagnosisReport, Ticket, TicketStore};
use serde_json::json;

use crate::args::{GlobalArgs, RetentionArgs};
use crate::exit::{self, CliError, CliResult};
use crate::output::{self, print_json};

/// Ticket commands.
#[derive(Debug, Subcommand)]
pub enum TicketsCommand {
    /// List tickets, newest first.
    List(ListArgs),
    /// Show one ticket with its log of state changes, its latest diagnosis and the agent's
    /// audit trail.
    Show {
        /// Ticket id.
        id: i64,
    },
    /// Resolve a ticket by hand (the monitor opens a new one if the violation persists).
    Resolve {
        /// Ticket id.
        id: i64,
        /// Why it was resolved, kept in the ticket's log.
        #[arg(long, default_value = "resolved by hand")]
        note: String,
    },
    /// Hold a ticket: it stays open when its violation clears, until released.
    Hold {
        /// Ticket id.
        id: i64,
    },
    /// Release a held ticket: it resolves once its violation is observed clear.
    Unhold {
        /// Ticket id.
        id: i64,
    },
    /// Delete resolved tickets past the retention, with their log, snapshots, diagnoses and
    /// audit trail, once (the monitor does it at start and hourly); open tickets are never
    /// deleted. Prints what was deleted.
    Prune(PruneArgs),
}

/// Flags of `tickets prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// How long resolved tickets are kept.
    #[command(flatten)]
    pub retention: RetentionArgs,
    /// Count what would be deleted, delete nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Which tickets `list` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusFilter {
    /// Open tickets.
    Open,
    /// Resolved tickets.
    Resolved,
    /// Both.
    All,
}

/// Flags of `tickets list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only tickets of this subject.
    #[arg(long)]
    pub subject: Option<String>,
    /// Only tickets with this status.
    #[arg(long, value_enum, default_value = "open")]
    pub status: StatusFilter,
    /// Only tickets of this invariant.
    #[arg(long)]
    pub invariant: Option<String>,
    /// At most this many (newest first).
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
}

/// Runs a `tickets` command.
pub fn run(global: &GlobalArgs, cmd: TicketsCommand) -> CliResult {
    let store = global.open_store()?;
    let json = global.json;
    match cmd {
        TicketsCommand::List(args) => list(&store, &args, json),
        TicketsCommand::Show { id } => show(&store, id, json),
        TicketsCommand::Resolve { id, note } => {
            let t = store
                .resolve(id, &note, Utc::now())
                .map_err(exit::ticket_lookup)?;
            print_change(&t, json, "resolved");
            Ok(exit::OK)
        }
        TicketsCommand::Hold { id } => {
            let t = store
                .set_held(id, true, Utc::now())
                .map_err(exit::ticket_lookup)?;
            print_change(&t, json, "held");
            Ok(exit::OK)
        }
        TicketsCommand::Prune(args) => prune(&store, &args, json),
        TicketsCommand::Unhold { id } => {
            let t = store
                .set_held(id, false, Utc::now())
                .map_err(exit::ticket_lookup)?;
            print_change(&t, json, "released");
            Ok(exit::OK)
        }
    }
}

fn list(store: &TicketStore, args: &ListArgs, json: bool) -> CliResult {
    let filter = TicketFilter {
        subject: args.subject.clone(),
        status: match args.status {
            StatusFilter::Open => Some(TicketStatus::Open),
            StatusFilter::Resolved => Some(TicketStatus::Resolved),
            StatusFilter::All => None,
        },
        invariant: args.invariant.clone(),
        limit: Some(args.limit),
    };
    let tickets = store.list(&filter)?;
    if json {
        print_json(&serde_json::to_value(&tickets).map_err(anyhow::Error::from)?);
        return Ok(exit::OK);
    }
    if tickets.is_empty() {
        println!("no tickets");
        return Ok(exit::OK);
    }
    println!(
        "{:>5}  {:<13} {:<8} {:<10} {:<32} {:>5}  {:<20}  {:<20}",
        "ID", "STATUS", "SEVERITY", "SUBJECT", "INVARIANT", "SEEN", "FIRST SEEN", "LAST SEEN"
    );
    for t in &tickets {
        println!(
            "{:>5}  {:<13} {:<8} {:<10} {:<32} {:>5}  {:<20}  {:<20}",
            t.id,
            status(t),
            t.severity,
            t.subject,
            output::what(&t.invariant, t.entity.as_deref()),
            t.occurrences,
            output::ts(t.first_seen),
            output::ts(t.last_seen)
        );
    }
    Ok(exit::OK)
}

fn prune(store: &TicketStore, args: &PruneArgs, json: bool) -> CliResult {
    let Some(keep) = args.retention.retention.0 else {
        return Err(CliError::flag(
            "--retention",
            "retention is off: nothing to prune (give a duration, e.g. --retention 30d)",
        ));
    };
    let keep = chrono::Duration::from_std(keep)
        .map_err(|_| CliError::flag("--retention", "retention is too long"))?;
    let cutoff = Utc::now()
        .checked_sub_signed(keep)
        .ok_or_else(|| CliError::flag("--retention", "retention is too long"))?;
    let report = store.prune(cutoff, args.dry_run)?;
    if json {
        let mut value = serde_json::to_value(report).map_err(anyhow::Error::from)?;
        value["cutoff"] = json!(cutoff);
        print_json(&value);
        return Ok(exit::OK);
    }
    let verb = if report.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    println!(
        "{verb} {} resolved ticket{} resolved before {} ({} events, {} snapshots, {} diagnoses, {} agent sessions, {} audit entries)",
        report.tickets,
        if report.tickets == 1 { "" } else { "s" },
        output::ts(cutoff),
        report.events,
        report.snapshots,
        report.diagnoses,
        report.sessions,
        report.audit_entries,
    );
    Ok(exit::OK)
}

fn status(t: &Ticket) -> String {
    if t.held {
        format!("{} (held)", t.status)
    } else {
        t.status.to_string()
    }
}

fn show(store: &TicketStore, id: i64, json: bool) -> CliResult {
    let t = store.get(id).map_err(exit::ticket_lookup)?;
    let events = store.events(id)?;
    let snapshots = store.snapshots(id)?;
    let diagnosis = store.latest_diagnosis(id)?;
    let sessions = store.sessions(Some(id), 20)?;
    let audit = store.audit_for_ticket(id)?;
    if json {
        print_json(&json!({
            "ticket": t,
            "events": events,
            "snapshots": snapshots.iter().map(|s| json!({"at": s.at, "reason": s.reason})).collect::<Vec<_>>(),
            "diagnosis": diagnosis,
            "sessions": sessions,
            "audit": audit.iter().map(|e| json!({
                "at": e.at, "session": e.session_id, "kind": e.kind, "summary": e.summary, "digest": e.digest,
            })).collect::<Vec<_>>(),
        }));
        return Ok(exit::OK);
    }
    print_ticket(&t, &events, snapshots.len());
    if let Some(d) = &diagnosis {
        print_diagnosis(d);
    }
    if !audit.is_empty() {
        print_audit(&sessions, &audit);
    }
    Ok(exit::OK)
}

/// The ticket, its evidence and its log, as text.
fn print_ticket(t: &Ticket, events: &[TicketEvent], snapshots: usize) {
    println!("Ticket #{} · {} · {}", t.id, status(t), t.severity);
    println!("  subject     {}", t.subject);
    println!(
        "  invariant   {}",
        output::what(&t.invariant, t.entity.as_deref())
    );
    println!("  message     {}", t.message);
    println!(
        "  seen        {} times, first {}, last {}",
        t.occurrences,
        output::ts(t.first_seen),
        output::ts(t.last_seen)
    );
    if let (Some(at), Some(how)) = (t.resolved_at, &t.resolution) {
        let open_for = (at - t.first_seen).to_std().unwrap_or_default();
        println!(
            "  resolved    {} ({how}), after {}",
            output::ts(at),
            output::duration(open_for)
        );
    }
    println!(
        "  evidence    {}",
        serde_json::to_string_pretty(&t.evidence)
            .unwrap_or_default()
            .replace('\n', "\n              ")
    );
    println!("  snapshots   {snapshots}");
    println!("Log:");
    for e in events {
        println!("  {}  {:<19} {}", output::ts(e.at), e.kind, e.detail);
    }
}

/// A ticket's latest diagnosis, as text.
fn print_diagnosis(d: &DiagnosisReport) {
    println!(
        "Diagnosis ({}, {}{}):",
        d.diagnoser,
        output::ts(d.at),
        d.fallback
            .as_deref()
            .map(|f| format!("; offline fallback: {f}"))
            .unwrap_or_default()
    );
    println!(
        "  root cause  {} (confidence {:.0}%)",
        d.diagnosis.root_cause,
        d.diagnosis.confidence * 100.0
    );
    println!("  summary     {}", d.diagnosis.summary);
    for a in &d.diagnosis.actions {
        println!("  recommends  {} — {}", a.wire(), a.reason);
    }
}

/// The agent's sessions on a ticket and their steps, as text.
fn print_audit(sessions: &[AgentSession], audit: &[AuditEntry]) {
    println!("Audit trail:");
    for s in sessions.iter().rev() {
        println!(
            "  session #{} ({} mode, {}): {}{}",
            s.id,
            s.mode,
            s.diagnoser,
            s.outcome.as_ref().map_or("(unfinished)", |o| o.as_str()),
            s.detail
                .as_deref()
                .map(|d| format!(" — {d}"))
                .unwrap_or_default()
        );
    }
    for e in audit {
        let session = e
            .session_id
            .map_or_else(|| "diagnose".to_owned(), |s| format!("#{s}"));
        println!(
            "  {}  {:<9} {:<13} {}",
            output::ts(e.at),
            session,
            e.kind,
            e.summary
        );
    }
}

fn print_change(t: &Ticket, json: bool, verb: &str) {
    if json {
        print_json(&serde_json::to_value(t).unwrap_or_default());
    } else {
        println!(
            "ticket #{} {verb}: {} ({})",
            t.id,
            output::what(&t.invariant, t.entity.as_deref()),
            status(t)
        );
    }
}
