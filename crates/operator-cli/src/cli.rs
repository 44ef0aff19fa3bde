//! Command-line definitions.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::commands::{
    agent::AgentArgs, audit::AuditCommand, chaos::ChaosArgs, demo::DemoArgs,
    diagnose::DiagnoseArgs, load::LoadArgs, monitor::MonitorArgs, stack::StackCommand,
    tickets::TicketsCommand,
};

const EXIT_CODES: &str = "\
Exit codes:
  0  success (for `monitor --once`: healthy)
  1  failure (for `monitor --once`: violations are firing)
  2  bad usage or configuration";

/// Keeps distributed systems healthy: observes a subject, checks its invariants, opens and
/// resolves tickets.
#[derive(Debug, Parser)]
#[command(name = "operator", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    /// Options shared by every command.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by every command.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Ticket database (SQLite) [default: <data dir>/operator/tickets.db]
    #[arg(long, global = true, env = "OPERATOR_DB", value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Log filter for stderr (e.g. `info`, `operator_core=debug`); RUST_LOG wins when set.
    #[arg(
        long,
        global = true,
        env = "OPERATOR_LOG",
        default_value = "warn",
        value_name = "FILTER"
    )]
    pub log_level: String,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Watch a subject: observe it on an interval, check its invariants, open and resolve tickets.
    ///
    /// In continuous mode it prints one line per ticket state change (opened, escalated,
    /// resolved), as JSON lines with --json, until SIGINT or SIGTERM. With --once it observes a
    /// single time, ignoring pending periods, prints the result and exits 0 (healthy) or 1.
    Monitor(Box<MonitorArgs>),
    /// List, inspect, resolve and hold tickets.
    #[command(subcommand)]
    Tickets(TicketsCommand),
    /// Print a ticket's context document and its diagnosis.
    ///
    /// The context holds the violation and its evidence, what the subject looks like now, the
    /// observations before and during the incident, the other tickets open at the same time,
    /// similar past tickets, the subject's extra material (logs, server statistics) and its
    /// declared actions; secrets are redacted and it is trimmed to --budget. The diagnosis is
    /// offline by default (the subject's rules: no model, no network); with --diagnoser
    /// anthropic or openai a model is asked, and its answer is used only if it validates (else
    /// the offline diagnosis is printed, saying why). Markdown, or JSON with --json.
    Diagnose(Box<DiagnoseArgs>),
    /// Diagnose open tickets and, in execute mode, run the allowed actions and verify them.
    ///
    /// Modes: observe (diagnose and record), propose (default: also record the actions it would
    /// run), execute (run the recommended actions listed in --allow; nothing is allowed unless
    /// listed). After acting, the agent re-observes the subject until the violation is clear on
    /// consecutive observations (the ticket is then resolved, with the time it took) or the
    /// verification deadline passes; it escalates once, with the reason, what it cannot fix.
    /// Every step is recorded (`operator audit`). Continuous mode also monitors the subject;
    /// --once makes one pass over the open tickets.
    Agent(Box<AgentArgs>),
    /// The agent's audit trail: sessions, and every step of one.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Run the whole story on this machine: a stack under load (local processes, or compose
    /// containers with --env compose), the monitor, five faults (Redis killed, restarted empty,
    /// stuck keys, a node killed), each measured; exit 0 only when every chapter saw what it
    /// expected.
    #[command(after_help = crate::commands::demo::DEMO_HELP)]
    Demo(DemoArgs),
    /// Run a rate-limiter stack (Redis and three nodes), as local processes on 127.0.0.1 or as
    /// the services of docker-compose.ratelimit.yml (--env compose): up, status, down.
    #[command(subcommand)]
    Stack(StackCommand),
    /// Break the recorded stack on purpose (`list` the faults), verify the effect, and undo it.
    #[command(after_help = crate::commands::chaos::FAULTS_HELP)]
    Chaos(ChaosArgs),
    /// Send steady or bursty decisions to the nodes and report allowed, denied and errors every
    /// second.
    Load(LoadArgs),
}
