//! Schema of the ticket database and its migrations.
//!
//! The version lives in SQLite's `user_version`. Migrations are applied in order, each in its own
//! transaction; a database newer than this build is refused rather than misread.

use rusqlite::Connection;

use crate::error::{Error, Result};

/// Migrations; entry `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: tickets, their event log and their snapshots.
    r"
    CREATE TABLE tickets (
        id          INTEGER PRIMARY KEY,
        subject     TEXT NOT NULL,
        invariant   TEXT NOT NULL,
        entity      TEXT,
        severity    TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
        status      TEXT NOT NULL CHECK (status IN ('open', 'resolved')),
        held        INTEGER NOT NULL DEFAULT 0,
        message     TEXT NOT NULL,
        evidence    TEXT NOT NULL,
        occurrences INTEGER NOT NULL,
        first_seen  TEXT NOT NULL,
        last_seen   TEXT NOT NULL,
        resolved_at TEXT,
        resolution  TEXT
    );
    CREATE UNIQUE INDEX tickets_one_open
        ON tickets (subject, invariant, ifnull(entity, '')) WHERE status = 'open';
    CREATE INDEX tickets_by_subject ON tickets (subject, status);
    CREATE TABLE ticket_events (
        id        INTEGER PRIMARY KEY,
        ticket_id INTEGER NOT NULL REFERENCES tickets (id),
        at        TEXT NOT NULL,
        kind      TEXT NOT NULL,
        detail    TEXT NOT NULL
    );
    CREATE INDEX ticket_events_by_ticket ON ticket_events (ticket_id);
    CREATE TABLE ticket_snapshots (
        id          INTEGER PRIMARY KEY,
        ticket_id   INTEGER NOT NULL REFERENCES tickets (id),
        at          TEXT NOT NULL,
        reason      TEXT NOT NULL,
        observation TEXT NOT NULL,
        history     TEXT NOT NULL
    );
    CREATE INDEX ticket_snapshots_by_ticket ON ticket_snapshots (ticket_id);
    ",
    // 2: diagnoses, agent sessions and their audit trail.
    r"
    CREATE TABLE agent_sessions (
        id          INTEGER PRIMARY KEY,
        ticket_id   INTEGER NOT NULL REFERENCES tickets (id),
        subject     TEXT NOT NULL,
        mode        TEXT NOT NULL CHECK (mode IN ('observe', 'propose', 'execute')),
        diagnoser   TEXT NOT NULL,
        started_at  TEXT NOT NULL,
        finished_at TEXT,
        outcome     TEXT,
        detail      TEXT,
        steps       INTEGER NOT NULL DEFAULT 0,
        tokens      INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX agent_sessions_by_ticket ON agent_sessions (ticket_id);
    CREATE TABLE diagnoses (
        id          INTEGER PRIMARY KEY,
        ticket_id   INTEGER NOT NULL REFERENCES tickets (id),
        session_id  INTEGER REFERENCES agent_sessions (id),
        at          TEXT NOT NULL,
        diagnoser   TEXT NOT NULL,
        fallback    TEXT,
        confidence  REAL NOT NULL,
        root_cause  TEXT NOT NULL,
        report      TEXT NOT NULL
    );
    CREATE INDEX diagnoses_by_ticket ON diagnoses (ticket_id);
    CREATE TABLE audit_entries (
        id          INTEGER PRIMARY KEY,
        ticket_id   INTEGER NOT NULL REFERENCES tickets (id),
        session_id  INTEGER REFERENCES agent_sessions (id),
        at          TEXT NOT NULL,
        kind        TEXT NOT NULL,
        summary     TEXT NOT NULL,
        digest      TEXT,
        body        TEXT NOT NULL
    );
    CREATE INDEX audit_entries_by_ticket ON audit_entries (ticket_id);
    CREATE INDEX audit_entries_by_session ON audit_entries (session_id);
    ",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database up to [`SCHEMA_VERSION`].
///
/// # Errors
/// [`Error::SchemaTooNew`] for a database from a newer build; SQLite errors otherwise.
pub(crate) fn migrate(conn: &mut Connection) -> Result<()> {
    loop {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(Error::SchemaTooNew {
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        if version == SCHEMA_VERSION {
            return Ok(());
        }
        let step = usize::try_from(version)
            .map_err(|_| Error::Corrupt(format!("negative schema version {version}")))?;
        tx.execute_batch(MIGRATIONS[step])?;
        tx.pragma_update(None, "user_version", version + 1)?;
        tx.commit()?;
        tracing::info!(from = version, to = version + 1, "migrated ticket database");
    }
}
