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

/// The same migrations in PostgreSQL's dialect: one file per dialect, the
/// same numbers, the same meaning.
const POSTGRES: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/postgres/0001_users.sql")),
    (
        2,
        include_str!("../../migrations/postgres/0002_throttle_and_idempotency.sql"),
    ),
];

pub const LATEST_VERSION: i64 = SQLITE.len() as i64;
const _: () = assert!(POSTGRES.len() == SQLITE.len(), "one migration per dialect");

/// Taken for the whole migration, so instances starting together migrate
/// one after the other ("user-api:migrate" would do as well as any number).
const MIGRATION_LOCK: i64 = 0x7573_6572_2d6d_6967;

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

/// As `sqlite`, in one transaction under an advisory lock: several
/// instances may start at once on one database.
pub async fn postgres(client: &mut deadpool_postgres::Object) -> Result<(), Error> {
    use super::postgres::classify;
    let tx = client.transaction().await.map_err(classify)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(classify)?;
    tx.batch_execute(
        "SET LOCAL client_min_messages = warning;
         CREATE TABLE IF NOT EXISTS user_api_schema (version BIGINT NOT NULL);
         INSERT INTO user_api_schema (version)
             SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM user_api_schema);",
    )
    .await
    .map_err(classify)?;
    let found: i64 = tx
        .query_one("SELECT version FROM user_api_schema", &[])
        .await
        .and_then(|r| r.try_get(0))
        .map_err(classify)?;
    if found > LATEST_VERSION {
        return Err(Error::NewerSchema {
            found,
            known: LATEST_VERSION,
        });
    }
    for &(version, sql) in POSTGRES.iter().filter(|(v, _)| *v > found) {
        tx.batch_execute(sql).await.map_err(classify)?;
        tx.execute("UPDATE user_api_schema SET version = $1", &[&version])
            .await
            .map_err(classify)?;
        tracing::info!(version, "applied schema migration");
    }
    tx.commit().await.map_err(classify)
}
