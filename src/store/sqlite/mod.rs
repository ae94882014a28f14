//! The embedded SQLite backend.
//!
//! Reads run inline on the calling async worker, each on a connection taken
//! from a small stack (a few microseconds; see `store` for the measurement).
//! Writes are sent to one writer thread that owns the only write connection,
//! so they never block an async worker and never wait on each other's locks.
//! WAL with `synchronous=FULL`: a write is on disk when its reply is sent.
//!
//! `engine` holds the connections; each other module is one group of
//! operations and only runs SQL: the rules they share with PostgreSQL are
//! in `store` and `domain`.

mod engine;
mod idempotency;
mod list;
mod mail;
mod outbox;
mod prune;
mod signin;
mod tokens;
mod transfer;
mod users;

use std::time::Instant;

use rusqlite::{Connection, ErrorCode, Row};

pub use engine::SqliteStore;

use super::{canonical, migrations, Error};
use crate::domain::{Email, User, UserId};

const USER_COLUMNS: &str = user_columns!();
const USER_BY_ID: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE id = ?1");
const CREDENTIALS_BY_EMAIL: &str = concat!(
    "SELECT ",
    user_columns!(),
    ", password_hash FROM users WHERE email = ?1"
);

fn user_from_row(row: &Row<'_>) -> rusqlite::Result<User> {
    let role: String = row.get(3)?;
    Ok(User {
        id: UserId(row.get(0)?),
        email: Email::from_trusted(row.get(1)?),
        name: row.get(2)?,
        role: super::stored_role(&role).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, e.into())
        })?,
        is_active: row.get(4)?,
        created_at: row.get(5)?,
        updated_at: row.get(6)?,
        version: row.get(7)?,
        email_verified: row.get(8)?,
    })
}

/// Maps a SQLite error to what it means for the caller. Lock waits and I/O
/// trouble are `Unavailable` (503, worth retrying); the text never reaches a
/// client.
pub(in crate::store) fn classify(err: rusqlite::Error) -> Error {
    match err.sqlite_error_code() {
        Some(ErrorCode::ConstraintViolation) if err.to_string().contains("users.email") => {
            Error::EmailTaken
        }
        Some(
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::SystemIoFailure
            | ErrorCode::DiskFull
            | ErrorCode::CannotOpen
            | ErrorCode::ReadOnly
            | ErrorCode::NotADatabase
            | ErrorCode::DatabaseCorrupt,
        ) => Error::Unavailable(err.to_string()),
        _ => Error::Internal(err.to_string()),
    }
}

/// Brings the schema to `migrations::LATEST_VERSION`, refusing a database written
/// by a newer binary (its schema could mean something this one does not
/// know). The version is kept in `PRAGMA user_version`.
fn migrate(conn: &mut Connection) -> Result<(), Error> {
    let found: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(classify)?;
    migrations::refuse_newer(found)?;
    for &(version, sql) in migrations::SQLITE.iter().filter(|(v, _)| *v > found) {
        let started = Instant::now();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)
            .map_err(classify)?;
        tx.execute_batch(sql).map_err(classify)?;
        if version == canonical::MIGRATION {
            canonicalise(&tx)?;
        }
        if version == migrations::SEARCH_AND_COUNTS {
            fill_search_index(&tx)?;
        }
        tx.pragma_update(None, "user_version", version)
            .map_err(classify)?;
        tx.commit().map_err(classify)?;
        tracing::info!(
            version,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "applied schema migration"
        );
    }
    Ok(())
}

/// Users indexed per statement while migration 8 fills the search index:
/// a progress line each (about a second's work).
const SEARCH_INDEX_BATCH: i64 = 100_000;

/// Migration 8's data step, inside its transaction: the users already
/// there go into the search index (the triggers index every later write),
/// a batch of ids at a time, each followed by a progress line, since on a
/// big store this delays the start.
fn fill_search_index(tx: &rusqlite::Transaction<'_>) -> Result<(), Error> {
    let total: i64 = tx
        .query_row("SELECT count(*) FROM users", [], |r| r.get(0))
        .map_err(classify)?;
    if total == 0 {
        return Ok(());
    }
    tracing::info!(
        users = total,
        "schema migration 8: building the search index; the service starts when it is done"
    );
    let started = Instant::now();
    let mut batch_end = tx
        .prepare("SELECT max(id) FROM (SELECT id FROM users WHERE id > ?1 ORDER BY id LIMIT ?2)")
        .map_err(classify)?;
    let mut insert = tx
        .prepare(
            "INSERT INTO users_search (rowid, email, name_lower)
             SELECT id, email, name_lower FROM users WHERE id > ?1 AND id <= ?2",
        )
        .map_err(classify)?;
    let (mut after, mut done) = (0i64, 0usize);
    while let Some(end) = batch_end
        .query_row([after, SEARCH_INDEX_BATCH], |r| r.get::<_, Option<i64>>(0))
        .map_err(classify)?
    {
        done += insert.execute([after, end]).map_err(classify)?;
        after = end;
        tracing::info!(
            indexed = done,
            users = total,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "schema migration 8: search index"
        );
    }
    Ok(())
}

/// The triggers by which migration 8 keeps the search index and the
/// counters in step with `users`, one row at a time.
const DERIVED_TRIGGERS: [&str; 6] = [
    "users_search_insert",
    "users_search_delete",
    "users_search_update",
    "user_counts_insert",
    "user_counts_delete",
    "user_counts_update",
];

/// The search index and the counters, set aside for a bulk write of
/// `users` (`db copy`): indexing a million rows one trigger at a time takes
/// several times longer than FTS5's `rebuild` of the whole table at the
/// end. Taken inside the bulk write's transaction, so a failed write rolls
/// the triggers back with everything else.
pub(in crate::store) struct DerivedSetAside {
    /// Each dropped trigger's `CREATE` statement, as migration 8 wrote it.
    triggers: Vec<String>,
}

impl DerivedSetAside {
    /// Drops the triggers (their statements are kept from `sqlite_master`,
    /// so the migration stays their only definition).
    pub(in crate::store) fn take(tx: &rusqlite::Transaction<'_>) -> Result<Self, Error> {
        let mut triggers = Vec::with_capacity(DERIVED_TRIGGERS.len());
        for name in DERIVED_TRIGGERS {
            let sql: String = tx
                .query_row(
                    "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?1",
                    [name],
                    |r| r.get(0),
                )
                .map_err(classify)?;
            tx.execute_batch(&format!("DROP TRIGGER {name}"))
                .map_err(classify)?;
            triggers.push(sql);
        }
        Ok(Self { triggers })
    }

    /// Puts the triggers back and derives the index and the counters from
    /// the rows now in `users`.
    pub(in crate::store) fn restore(self, tx: &rusqlite::Transaction<'_>) -> Result<(), Error> {
        let started = Instant::now();
        for sql in &self.triggers {
            tx.execute_batch(sql).map_err(classify)?;
        }
        tx.execute_batch(
            "INSERT INTO users_search (users_search) VALUES ('rebuild');
             DELETE FROM user_counts;
             INSERT INTO user_counts (role, is_active, n)
                 SELECT role, is_active, count(*) FROM users GROUP BY role, is_active;",
        )
        .map_err(classify)?;
        tracing::info!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "search index and user counts rebuilt"
        );
        Ok(())
    }
}

/// Migration 4's data step (`store::canonical`), inside its transaction: an
/// error leaves the database as it was.
fn canonicalise(tx: &rusqlite::Transaction<'_>) -> Result<(), Error> {
    let users = tx
        .prepare("SELECT id, email, name, name_lower FROM users ORDER BY id")
        .and_then(|mut stmt| {
            stmt.query_map([], |r| {
                Ok(canonical::StoredUser {
                    id: r.get(0)?,
                    email: r.get(1)?,
                    name: r.get(2)?,
                    name_lower: r.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(classify)?;
    let rewrites = canonical::plan(users)?;
    for step in [0, 1] {
        for rewrite in &rewrites {
            let email = if step == 0 {
                canonical::parked(rewrite.id)
            } else {
                rewrite.email.clone()
            };
            tx.execute(
                "UPDATE users SET email = ?2, name_lower = ?3 WHERE id = ?1",
                rusqlite::params![rewrite.id, email, rewrite.name_lower],
            )
            .map_err(classify)?;
        }
    }
    let keys = tx
        .prepare("SELECT key FROM signin_failures")
        .and_then(|mut stmt| {
            stmt.query_map([], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(classify)?;
    for key in keys.iter().filter(|k| canonical::stale_throttle_key(k)) {
        tx.execute("DELETE FROM signin_failures WHERE key = ?1", [key])
            .map_err(classify)?;
    }
    tracing::info!(
        rewritten = rewrites.len(),
        "stored emails in canonical form"
    );
    Ok(())
}
