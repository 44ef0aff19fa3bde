//! One module per command.

pub mod agent;
pub mod audit;
pub mod chaos;
pub mod demo;
pub mod diagnose;
pub mod env;
pub mod load;
pub mod monitor;
pub mod stack;
pub mod stack_flags;
pub mod tickets;

use std::path::PathBuf;
use std::sync::Arc;

use operator_core::TicketStore;

use crate::cli::{Cli, Command, GlobalArgs};
use crate::exit::{CliError, CliResult};

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> CliResult {
    match cli.command {
        Command::Monitor(args) => monitor::run(&cli.global, *args).await,
        Command::Tickets(cmd) => tickets::run(&cli.global, cmd),
        Command::Diagnose(args) => diagnose::run(&cli.global, *args).await,
        Command::Agent(args) => agent::run(&cli.global, *args).await,
        Command::Audit(cmd) => audit::run(&cli.global, cmd),
        Command::Demo(args) => demo::run(&cli.global, args).await,
        Command::Stack(cmd) => stack::run(&cli.global, cmd).await,
        Command::Chaos(args) => chaos::run(&cli.global, args).await,
        Command::Load(args) => load::run(&cli.global, args).await,
    }
}

/// The ticket database path: `--db`, else `<data dir>/operator/tickets.db`.
pub fn db_path(global: &GlobalArgs) -> PathBuf {
    if let Some(path) = &global.db {
        return path.clone();
    }
    directories::ProjectDirs::from("", "", "operator").map_or_else(
        || PathBuf::from("operator-tickets.db"),
        |d| d.data_dir().join("tickets.db"),
    )
}

/// Opens the ticket store named by `--db`.
///
/// # Errors
/// A usage error naming `--db` when it cannot be opened.
pub fn open_store(global: &GlobalArgs) -> Result<Arc<TicketStore>, CliError> {
    let path = db_path(global);
    TicketStore::open(&path)
        .map(Arc::new)
        .map_err(|e| CliError::flag("--db", format!("{}: {e}", path.display())))
}
