//! [`TicketStore`]: tickets in a SQLite file, and its connection.
//!
//! Its methods are written by role: what changes tickets in `write.rs`, what reads them back in
//! `read.rs`, the agent's audit trail in `audit.rs` and retention in `prune.rs`.
//!
//! Every method is synchronous: SQLite blocks, and may wait up to the busy timeout for another
//! process. Async code therefore never calls them directly but through [`TicketStore::call`],
//! which runs them on tokio's blocking pool, so a slow or locked database never holds a runtime
//! worker (the monitor's timers, the observations and the HTTP clients keep running).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::Connection;

use super::schema;
use crate::error::{Error, Result};

/// How long a writer waits for another process's transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Tickets in a SQLite file, shared safely between processes.
#[derive(Debug)]
pub struct TicketStore {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl TicketStore {
    /// Opens (creating if needed) the database at `path` and migrates it to the current schema.
    ///
    /// # Errors
    /// When the directory cannot be created, the file cannot be opened, or the schema is newer
    /// than this build.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| Error::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let mut conn = Connection::open(&path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // WAL lets readers proceed while the monitor writes.
        let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        conn.pragma_update(None, "foreign_keys", true)?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        schema::migrate(&mut conn)?;
        Ok(Self {
            conn: Mutex::new(conn),
            path,
        })
    }

    /// Sets how long a write waits for another process's transaction (default 5 s).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn set_busy_timeout(&self, timeout: Duration) -> Result<()> {
        self.conn().busy_timeout(timeout)?;
        Ok(())
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version of the database.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn schema_version(&self) -> Result<i64> {
        Ok(self
            .conn()
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    /// Runs `f` with the store on tokio's blocking pool and waits for it without blocking the
    /// runtime: the way async code reaches the store.
    ///
    /// `f` owns what it needs (clone the ticket, the violation), since it may outlive the
    /// caller's borrow if the calling future is dropped.
    ///
    /// # Errors
    /// What `f` returns, or [`Error::Blocking`] when the runtime is shutting down.
    ///
    /// # Panics
    /// When `f` panics, the panic resumes in the caller.
    pub async fn call<T, F>(self: &Arc<Self>, f: F) -> Result<T>
    where
        F: FnOnce(&TicketStore) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let store = Arc::clone(self);
        match tokio::task::spawn_blocking(move || f(&store)).await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(Error::Blocking(e)),
        }
    }

    pub(super) fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave the connection half-written (SQLite rolls
        // back uncommitted transactions), so a poisoned lock is safe to reuse.
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
