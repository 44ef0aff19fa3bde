//! [`GlobalArgs`]: the options every command takes, and the ticket store they name.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use operator_core::TicketStore;

use crate::exit::CliError;

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

impl GlobalArgs {
    /// The ticket database path: `--db`, else `<data dir>/operator/tickets.db`.
    pub fn db_path(&self) -> PathBuf {
        if let Some(path) = &self.db {
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
    pub fn open_store(&self) -> Result<Arc<TicketStore>, CliError> {
        let path = self.db_path();
        TicketStore::open(&path)
            .map(Arc::new)
            .map_err(|e| CliError::flag("--db", format!("{}: {e}", path.display())))
    }
}
