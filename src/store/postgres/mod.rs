//! PostgreSQL: several instances on one database.
//!
//! Every rule that must hold across instances is held by the database, never
//! by one process's memory: email uniqueness by a UNIQUE constraint, the
//! last-admin rule by an advisory lock taken before counting admins,
//! `If-Match` and failed-sign-in counts by row locks (`FOR UPDATE`), tokens
//! by reading them on every request. Each operation is one transaction.
//!
//! Why tokio-postgres with a deadpool pool and statements prepared once per
//! connection: measured against sqlx on this machine (bench/pg-driver/).
//! Every operation has a time limit, so a database that stops answering
//! gives 503 instead of hanging requests; a broken connection is dropped
//! from the pool and the next request opens a new one, so the service
//! recovers by itself when PostgreSQL comes back.
//!
//! `engine` holds the pool and the time limits; each other module is one
//! group of operations and only runs SQL: the rules they share with SQLite
//! are in `store` and `domain`.

mod engine;
mod idempotency;
mod list;
mod mail;
mod outbox;
mod prune;
mod signin;
mod signup;
mod tls;
mod tokens;
mod transfer;
mod users;

use std::time::Instant;

use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

pub(in crate::store) use engine::target;
pub use engine::PostgresStore;
pub use outbox::DelivererLease;

use super::{canonical, migrations, Error};
use crate::domain::{Email, User, UserId};

/// A transaction on a pooled connection.
type Tx<'a> = deadpool_postgres::Transaction<'a>;

/// Every statement goes through the connection's statement cache: prepared
/// on first use, then one round trip per call instead of two (a statement
/// sent as text is parsed and planned again each time).
async fn run<C: GenericClient>(
    client: &C,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, tokio_postgres::Error> {
    let statement = client.prepare_cached(sql).await?;
    client.execute(&statement, params).await
}

/// As `run`, for a statement that returns exactly one row.
async fn one<C: GenericClient>(
    client: &C,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Row, tokio_postgres::Error> {
    let statement = client.prepare_cached(sql).await?;
    client.query_one(&statement, params).await
}

/// As `run`, for a statement that returns at most one row.
async fn opt<C: GenericClient>(
    client: &C,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Option<Row>, tokio_postgres::Error> {
    let statement = client.prepare_cached(sql).await?;
    client.query_opt(&statement, params).await
}

const USER_COLUMNS: &str = user_columns!();
const USER_BY_ID: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1");
const CREDENTIALS_BY_EMAIL: &str = concat!(
    "SELECT ",
    user_columns!(),
    ", password_hash FROM users WHERE email = $1"
);
const USER_BY_TOKEN: &str =
    "SELECT u.id, u.email, u.name, u.role, u.is_active, u.created_at, u.updated_at, u.version,
            u.email_verified
     FROM tokens t JOIN users u ON u.id = t.user_id
     WHERE t.hash = $1 AND t.expires_at > $2 AND u.is_active";

/// The user in the columns of `user_columns!`, starting at `at`.
fn user_at(row: &Row, at: usize) -> Result<User, Error> {
    let role: String = row.try_get(at + 3).map_err(classify)?;
    Ok(User {
        id: UserId(row.try_get(at).map_err(classify)?),
        email: Email::from_trusted(row.try_get(at + 1).map_err(classify)?),
        name: row.try_get(at + 2).map_err(classify)?,
        role: super::stored_role(&role)?,
        is_active: row.try_get(at + 4).map_err(classify)?,
        created_at: row.try_get(at + 5).map_err(classify)?,
        updated_at: row.try_get(at + 6).map_err(classify)?,
        version: row.try_get(at + 7).map_err(classify)?,
        email_verified: row.try_get(at + 8).map_err(classify)?,
    })
}

fn user_from_row(row: &Row) -> Result<User, Error> {
    user_at(row, 0)
}

/// Maps a PostgreSQL error to what the caller can do about it. Only what
/// says our own statement or data is wrong is `Internal` (500): a
/// constraint (other than a taken email), bad data, a statement the server
/// cannot run, a row that does not decode. Everything else — a lost or
/// refused connection, TLS, a timeout, a server that is starting, stopping,
/// full, out of connections, not accepting connections (55000), missing
/// its database, or a serialisation failure — is `Unavailable`: 503 with
/// `Retry-After`, since it passes without us. A rule that lists what is
/// *our* fault misses no new outage; a list of outage codes would (55000
/// was missed that way). The text joins the error's causes and names no
/// credentials: tokio-postgres never prints the password.
pub(in crate::store) fn classify(err: tokio_postgres::Error) -> Error {
    if let Some(db) = err.as_db_error() {
        let code = db.code().code();
        if code == "23505" && db.constraint() == Some("users_email_key") {
            return Error::EmailTaken;
        }
        // 0A feature not supported, 21 cardinality, 22 data exception, 23
        // integrity constraint, 42 syntax or access rule, 44 check option.
        return if ["0A", "21", "22", "23", "42", "44"].contains(&&code[..2]) {
            Error::Internal(format!("PostgreSQL: {} ({code})", db.message()))
        } else {
            Error::Unavailable(format!("PostgreSQL: {} ({code})", db.message()))
        };
    }
    // tokio-postgres does not expose its error kinds; their fixed texts
    // (tokio_postgres::error::Kind's Display) say which are ours: a
    // parameter or column that does not convert, a row count a statement
    // promised.
    let kind = err.to_string();
    const OURS: [&str; 6] = [
        "error serializing parameter",
        "error deserializing column",
        "invalid column",
        "query returned an unexpected number of",
        "expected ",
        "invalid connection string",
    ];
    if OURS.iter().any(|p| kind.starts_with(p)) {
        Error::Internal(format!("PostgreSQL: {}", describe(&err)))
    } else {
        Error::Unavailable(format!("PostgreSQL connection: {}", describe(&err)))
    }
}

/// The error and its causes on one line ("error performing TLS handshake:
/// invalid peer certificate: UnknownIssuer"): tokio-postgres's own text
/// names only the kind.
pub(in crate::store) fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut line = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !line.ends_with(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = c.source();
    }
    line.replace('\n', " ")
}

/// Taken for the whole migration, so instances starting together migrate
/// one after the other ("user-api:migrate" would do as well as any number).
const MIGRATION_LOCK: i64 = 0x7573_6572_2d6d_6967;

/// Brings the schema to `migrations::LATEST_VERSION` in one transaction
/// under an advisory lock: several instances may start at once on one
/// database.
async fn migrate(
    client: &mut deadpool_postgres::Object,
    pool: &deadpool_postgres::Pool,
) -> Result<(), Error> {
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
    migrations::refuse_newer(found)?;
    for &(version, sql) in migrations::POSTGRES.iter().filter(|(v, _)| *v > found) {
        let started = Instant::now();
        // Building migration 8's indexes over a big store takes a while:
        // their progress is logged from another connection meanwhile.
        let mut progress = None;
        if version == migrations::SEARCH_AND_COUNTS {
            let row = tx
                .query_one("SELECT count(*), pg_backend_pid() FROM users", &[])
                .await
                .map_err(classify)?;
            let users: i64 = row.try_get(0).map_err(classify)?;
            if users > 0 {
                tracing::info!(
                    users,
                    "schema migration 8: building the search indexes and counters; the service starts when it is done"
                );
                let backend: i32 = row.try_get(1).map_err(classify)?;
                progress = Some(tokio::spawn(engine::log_index_builds(
                    pool.clone(),
                    backend,
                )));
            }
        }
        let applied = tx.batch_execute(sql).await;
        if let Some(progress) = progress {
            progress.abort();
        }
        applied.map_err(classify)?;
        if version == canonical::MIGRATION {
            canonicalise(&tx).await?;
        }
        tx.execute("UPDATE user_api_schema SET version = $1", &[&version])
            .await
            .map_err(classify)?;
        tracing::info!(
            version,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "applied schema migration"
        );
    }
    tx.commit().await.map_err(classify)
}

/// Migration 8's trigram indexes on `users`.
const SEARCH_INDEXES: [&str; 2] = ["users_email_trgm", "users_name_trgm"];

/// The search indexes, set aside for a bulk write of `users` (`db copy`):
/// building a GIN index over a million rows at the end is faster than
/// maintaining it row by row. Taken inside the bulk write's transaction, so
/// a failed write rolls the indexes back with everything else. (The
/// counters need nothing: their triggers fire once per statement.)
pub(in crate::store) struct SearchIndexesSetAside {
    /// Each dropped index's definition, as migration 8 created it.
    definitions: Vec<String>,
}

impl SearchIndexesSetAside {
    pub(in crate::store) async fn take(
        tx: &tokio_postgres::Transaction<'_>,
    ) -> Result<Self, Error> {
        let mut definitions = Vec::with_capacity(SEARCH_INDEXES.len());
        for name in SEARCH_INDEXES {
            let definition: String = tx
                .query_one("SELECT pg_get_indexdef(to_regclass($1)::oid)", &[&name])
                .await
                .and_then(|r| r.try_get(0))
                .map_err(classify)?;
            tx.batch_execute(&format!("DROP INDEX {name}"))
                .await
                .map_err(classify)?;
            definitions.push(definition);
        }
        Ok(Self { definitions })
    }

    /// Builds the indexes again over the rows now in `users`, with the
    /// memory migration 8 gave the same builds.
    pub(in crate::store) async fn restore(
        self,
        tx: &tokio_postgres::Transaction<'_>,
    ) -> Result<(), Error> {
        let started = Instant::now();
        tx.batch_execute("SET LOCAL maintenance_work_mem = '256MB'")
            .await
            .map_err(classify)?;
        for definition in &self.definitions {
            tx.batch_execute(definition).await.map_err(classify)?;
        }
        tracing::info!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "search indexes rebuilt"
        );
        Ok(())
    }
}

/// Migration 4's data step (`store::canonical`), inside the migration's
/// transaction: an error rolls everything back.
async fn canonicalise(tx: &Tx<'_>) -> Result<(), Error> {
    let users = tx
        .query(
            "SELECT id, email, name, name_lower FROM users ORDER BY id",
            &[],
        )
        .await
        .map_err(classify)?
        .iter()
        .map(|r| {
            Ok(canonical::StoredUser {
                id: r.try_get(0)?,
                email: r.try_get(1)?,
                name: r.try_get(2)?,
                name_lower: r.try_get(3)?,
            })
        })
        .collect::<Result<Vec<_>, tokio_postgres::Error>>()
        .map_err(classify)?;
    let rewrites = canonical::plan(users)?;
    let update = tx
        .prepare("UPDATE users SET email = $2, name_lower = $3 WHERE id = $1")
        .await
        .map_err(classify)?;
    for step in [0, 1] {
        for rewrite in &rewrites {
            let email = if step == 0 {
                canonical::parked(rewrite.id)
            } else {
                rewrite.email.clone()
            };
            tx.execute(&update, &[&rewrite.id, &email, &rewrite.name_lower])
                .await
                .map_err(classify)?;
        }
    }
    let keys: Vec<String> = tx
        .query("SELECT key FROM signin_failures", &[])
        .await
        .map_err(classify)?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()
        .map_err(classify)?;
    let stale: Vec<&str> = keys
        .iter()
        .map(String::as_str)
        .filter(|k| canonical::stale_throttle_key(k))
        .collect();
    tx.execute("DELETE FROM signin_failures WHERE key = ANY($1)", &[&stale])
        .await
        .map_err(classify)?;
    tracing::info!(
        rewritten = rewrites.len(),
        "stored emails in canonical form"
    );
    Ok(())
}
