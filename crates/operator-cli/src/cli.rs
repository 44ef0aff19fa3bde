//! The command line: [`Cli`], its [`Command`]s, and [`run`], which hands each to its module.
//!
//! Nothing imports this module but `main`: the commands take their shared options from
//! [`args`](crate::args), so the arrows point from here to the commands and never back.

use clap::{Parser, Subcommand};

use crate::args::GlobalArgs;
use crate::commands::{
    agent, audit, chaos, dashboard, demo, diagnose, eval, load, monitor, stack, tickets,
};
use crate::exit::CliResult;

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

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Watch a subject: observe it on an interval, check its invariants, open and resolve tickets.
    ///
    /// In continuous mode it prints one line per ticket state change (opened, escalated,
    /// resolved), as JSON lines with --json, until SIGINT or SIGTERM. With --once it observes a
    /// single time, ignoring pending periods, prints the result and exits 0 (healthy) or 1.
    Monitor(Box<monitor::MonitorArgs>),
    /// List, inspect, resolve and hold tickets.
    #[command(subcommand)]
    Tickets(tickets::TicketsCommand),
    /// Print a ticket's context document and its diagnosis.
    ///
    /// The context holds the violation and its evidence, what the subject looks like now, the
    /// observations before and during the incident, the other tickets open at the same time,
    /// similar past tickets, the subject's extra material (logs, server statistics) and its
    /// declared actions; secrets are redacted and it is trimmed to --budget. The diagnosis is
    /// offline by default (the subject's rules: no model, no network); with --diagnoser
    /// anthropic or openai a model is asked, and its answer is used only if it validates (else
    /// the offline diagnosis is printed, saying why). Markdown, or JSON with --json.
    ///
    /// The subject is the ticket's: --subject may be left out.
    #[command(mut_arg("subject", crate::args::from_ticket))]
    Diagnose(Box<diagnose::DiagnoseArgs>),
    /// Diagnose open tickets and, in execute mode, run the allowed actions and verify them.
    ///
    /// Modes: observe (diagnose and record), propose (default: also record the actions it would
    /// run), execute (run the recommended actions listed in --allow; nothing is allowed unless
    /// listed). After acting, the agent re-observes the subject until the violation is clear on
    /// consecutive observations (the ticket is then resolved, with the time it took) or the
    /// verification deadline passes; it escalates once, with the reason, what it cannot fix.
    /// Every step is recorded (`operator audit`). Continuous mode also monitors the subject;
    /// --once makes one pass over the open tickets; --ticket ID runs one session on that ticket
    /// (its subject is the ticket's: --subject may then be left out).
    #[command(mut_arg("subject", crate::args::from_ticket))]
    Agent(Box<agent::AgentArgs>),
    /// The agent's audit trail: sessions, and every step of one.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Run the whole story on this machine: a stack under load (local processes, or compose
    /// containers with --env compose), the monitor, five faults (Redis killed, restarted empty,
    /// stuck keys, a node killed), each measured; exit 0 only when every chapter saw what it
    /// expected.
    #[command(after_help = demo::DEMO_HELP)]
    Demo(demo::DemoArgs),
    /// Put a stack of its own through repeated fault trials under load (local processes, or
    /// compose containers with --env compose): win rate, time to detect and to resolve,
    /// diagnoses right, false tickets; exit 0 only when every trial was won.
    #[command(after_help = eval::EVAL_HELP)]
    Eval(Box<crate::args::eval::EvalArgs>),
    /// Run a rate-limiter stack (Redis and three nodes), as local processes on 127.0.0.1 or as
    /// the services of docker-compose.ratelimit.yml (--env compose): up, status, down.
    #[command(subcommand)]
    Stack(stack::StackCommand),
    /// Break the recorded stack on purpose (`list` the faults), verify the effect, and undo it.
    #[command(after_help = chaos::FAULTS_HELP)]
    Chaos(chaos::ChaosArgs),
    /// A live view in the terminal: the subject's entities, every invariant with its alert state
    /// (ok, pending, firing, since when), the open tickets and the selected one's offline
    /// diagnosis; ↑/↓ select, Enter opens, Esc closes, q quits.
    ///
    /// It runs the monitor loop itself, with the flags and ticket database of `monitor` (so
    /// pending states are live), or shows another monitor's tickets with --read-only.
    Dashboard(Box<dashboard::DashboardArgs>),
    /// Send steady or bursty decisions to the nodes and report allowed, denied and errors every
    /// second.
    Load(load::LoadArgs),
}

/// Runs the parsed command line: the exit code, or the error that says why it failed.
pub async fn run(cli: Cli) -> CliResult {
    let global = &cli.global;
    match cli.command {
        Command::Monitor(args) => monitor::run(global, *args).await,
        Command::Tickets(cmd) => tickets::run(global, cmd),
        Command::Diagnose(args) => diagnose::run(global, *args).await,
        Command::Agent(args) => agent::run(global, *args).await,
        Command::Audit(cmd) => audit::run(global, cmd),
        Command::Demo(args) => demo::run(global, args).await,
        Command::Eval(args) => eval::run(global, *args).await,
        Command::Stack(cmd) => stack::run(global, cmd).await,
        Command::Chaos(args) => chaos::run(global, args).await,
        Command::Load(args) => load::run(global, args).await,
        Command::Dashboard(args) => dashboard::run(global, *args).await,
    }
}
