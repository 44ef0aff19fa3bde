//! Errors of the core crate.

/// Errors raised by the ticket store and the monitor loop.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The SQLite database failed.
    #[error("ticket store: {0}")]
    Store(#[from] rusqlite::Error),
    /// The database was written by a newer operator than this one.
    #[error(
        "ticket database schema version {found} is newer than this operator supports ({supported}); upgrade the operator"
    )]
    SchemaTooNew {
        /// Version found in the file.
        found: i64,
        /// Highest version this build knows.
        supported: i64,
    },
    /// The ticket database directory could not be created.
    #[error("cannot create ticket database directory {path}: {source}")]
    CreateDir {
        /// The directory.
        path: std::path::PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// No ticket has this id.
    #[error("no ticket #{0}")]
    NoSuchTicket(i64),
    /// A value read from or written to the store is not valid JSON.
    #[error("invalid JSON in ticket store: {0}")]
    Json(#[from] serde_json::Error),
    /// A configuration does not fit (an agent allowed an action its subject does not declare).
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// A ticket store call could not run on the blocking pool (the runtime is shutting down).
    #[error("ticket store task did not run: {0}")]
    Blocking(#[source] tokio::task::JoinError),
    /// A value stored in the database is not one this build understands.
    #[error("corrupt ticket store: {0}")]
    Corrupt(String),
}

impl Error {
    /// Whether retrying the same operation may succeed (the database was busy or locked).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::Store(rusqlite::Error::SqliteFailure(e, _))
                if matches!(e.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        )
    }
}

/// Result type of the core crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `error: cause: cause`: an error's message followed by its sources (each only once), so that
/// a one-line message carries the whole story.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let c = cause.to_string();
        if !s.contains(&c) {
            s.push_str(": ");
            s.push_str(&c);
        }
        source = cause.source();
    }
    s
}
