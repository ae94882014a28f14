//! Schema migrations, embedded in the binary and numbered; applied in order
//! at start and by `user-api migrate`. A released migration is never edited.

use rusqlite::Connection;

use super::Error;

/// `(version, sql)`, in order. The version is kept in `PRAGMA user_version`.
const SQLITE: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/sqlite/0001_users.sql")),
    (
        2,
        include_str!("../../migrations/sqlite/0002_throttle_and_idempotency.sql"),
    ),
];

pub const LATEST_VERSION: i64 = SQLITE.len() as i64;

/// Brings the schema to `LATEST_VERSION`, refusing a database written by a
/// newer binary (its schema could mean something this one does not know).
pub fn sqlite(conn: &mut Connection) -> Result<(), Error> {
    let found: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(super::sqlite::classify)?;
    if found > LATEST_VERSION {
        return Err(Error::NewerSchema {
            found,
            known: LATEST_VERSION,
        });
    }
    for &(version, sql) in SQLITE.iter().filter(|(v, _)| *v > found) {
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)
            .map_err(super::sqlite::classify)?;
        tx.execute_batch(sql).map_err(super::sqlite::classify)?;
        tx.pragma_update(None, "user_version", version)
            .map_err(super::sqlite::classify)?;
        tx.commit().map_err(super::sqlite::classify)?;
        tracing::info!(version, "applied schema migration");
    }
    Ok(())
}
