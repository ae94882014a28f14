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

use std::time::Duration;

use deadpool_postgres::{
    Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime,
};
use tokio_postgres::{NoTls, Row};

use super::{
    judge_idempotency, migrate, now, revocation_after, EarlierRequest, Error, IdempotencyClaim,
    IdempotencyStart, NewUserRow, Page, RenderReply, StoredReply, TokenHash, TokenRevocation,
    UserChanges, UserFilter,
};
use crate::domain::policy::removes_an_admin;
use crate::domain::throttle::{FailureRecord, ThrottleRules, Throttled};
use crate::domain::{Email, Role, User, UserId};

/// Longest wait for a pooled connection or a new one: past it, 503.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest any one operation may take before the request gets 503; well
/// under the request time limit, so the client hears why.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(5);
/// Readiness must answer quickly whatever the database does.
const PING_TIMEOUT: Duration = Duration::from_secs(1);
/// Serialises the changes that may remove an admin, on every instance: the
/// count of the other active admins is read under it, so two concurrent
/// demotions cannot both see the other admin still there. (Any constant
/// works; this one spells "user-api" in ASCII.)
const ADMINS_LOCK: i64 = 0x7573_6572_2d61_7069;

const USER_COLUMNS: &str = user_columns!();
const USER_BY_ID: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1");
const CREDENTIALS_BY_EMAIL: &str = concat!(
    "SELECT ",
    user_columns!(),
    ", password_hash FROM users WHERE email = $1"
);
const USER_BY_TOKEN: &str =
    "SELECT u.id, u.email, u.name, u.role, u.is_active, u.created_at, u.updated_at, u.version
     FROM tokens t JOIN users u ON u.id = t.user_id
     WHERE t.hash = $1 AND t.expires_at > $2 AND u.is_active";

pub struct PostgresStore {
    pool: Pool,
}

/// The user in the columns of `user_columns!`, starting at `at`.
fn user_at(row: &Row, at: usize) -> Result<User, tokio_postgres::Error> {
    let role: String = row.try_get(at + 3)?;
    Ok(User {
        id: UserId(row.try_get(at)?),
        email: Email::from_trusted(row.try_get(at + 1)?),
        name: row.try_get(at + 2)?,
        role: if role == "admin" {
            Role::Admin
        } else {
            Role::User
        },
        is_active: row.try_get(at + 4)?,
        created_at: row.try_get(at + 5)?,
        updated_at: row.try_get(at + 6)?,
        version: row.try_get(at + 7)?,
    })
}

fn user_from_row(row: &Row) -> Result<User, Error> {
    user_at(row, 0).map_err(classify)
}

/// Maps a PostgreSQL error to what it means for the caller. Lost
/// connections, an overloaded or restarting server, lock timeouts and
/// serialisation failures are `Unavailable` (503, worth retrying). The text
/// names no credentials: tokio-postgres never prints the password.
pub(super) fn classify(err: tokio_postgres::Error) -> Error {
    if let Some(db) = err.as_db_error() {
        let code = db.code().code();
        if code == "23505" && db.constraint() == Some("users_email_key") {
            return Error::EmailTaken;
        }
        // 08 connection, 40 rollback (serialisation, deadlock), 53 resources
        // (disk full, too many connections), 55P03 lock not available, 57
        // operator intervention (shutdown, restart), 58 system error.
        return if ["08", "40", "53", "57", "58"].contains(&&code[..2]) || code == "55P03" {
            Error::Unavailable(format!("PostgreSQL: {} ({code})", db.message()))
        } else {
            Error::Internal(format!("PostgreSQL: {} ({code})", db.message()))
        };
    }
    let lost = err.is_closed()
        || std::error::Error::source(&err).is_some_and(|s| s.is::<std::io::Error>());
    if lost {
        Error::Unavailable(format!("PostgreSQL connection: {err}"))
    } else {
        Error::Internal(format!("PostgreSQL: {err}"))
    }
}

fn pool_error(err: PoolError) -> Error {
    match err {
        PoolError::Backend(e) => classify(e),
        PoolError::Timeout(_) => Error::Unavailable("no PostgreSQL connection in time".into()),
        PoolError::Closed => Error::Unavailable("the connection pool is closed".into()),
        other => Error::Internal(format!("connection pool: {other}")),
    }
}

/// Runs one operation under `OPERATION_TIMEOUT`. A transaction cut short is
/// rolled back by the server when its connection drops or by tokio-postgres
/// when the transaction is dropped.
async fn timed<T>(work: impl std::future::Future<Output = Result<T, Error>>) -> Result<T, Error> {
    tokio::time::timeout(OPERATION_TIMEOUT, work)
        .await
        .unwrap_or_else(|_| {
            Err(Error::Unavailable(
                "PostgreSQL did not answer in time".into(),
            ))
        })
}

impl PostgresStore {
    /// Connects (the pool opens connections as they are needed) and brings
    /// the schema up to date; an unreachable server is a start error.
    pub async fn open(url: &str, pool_size: u32) -> Result<Self, Error> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|_| Error::Unsupported("not a valid postgres:// URL".into()))?;
        config
            .application_name("user-api")
            .connect_timeout(CONNECT_TIMEOUT)
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(30));
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                // A closed connection is noticed without a round trip; one
                // that breaks in use fails that request and is dropped.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size as usize)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| Error::Internal(format!("connection pool: {e}")))?;
        let store = Self { pool };
        let mut client = store.client().await?;
        migrate::postgres(&mut client).await?;
        Ok(store)
    }

    /// A pooled connection; the pool's size and idle count go to metrics.
    async fn client(&self) -> Result<Object, Error> {
        let client = self.pool.get().await.map_err(pool_error);
        let status = self.pool.status();
        metrics::gauge!("db_pool_connections").set(status.size as f64);
        metrics::gauge!("db_pool_idle_connections").set(status.available as f64);
        client
    }

    pub async fn ping(&self) -> Result<(), Error> {
        tokio::time::timeout(PING_TIMEOUT, async {
            let client = self.client().await?;
            client.simple_query("SELECT 1").await.map_err(classify)?;
            Ok(())
        })
        .await
        .unwrap_or_else(|_| {
            Err(Error::Unavailable(
                "PostgreSQL did not answer in time".into(),
            ))
        })
    }

    pub async fn create_user(
        &self,
        user: NewUserRow,
        reply: Option<(IdempotencyClaim, RenderReply)>,
    ) -> Result<User, Error> {
        timed(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(classify)?;
            let insert = tx
                .prepare_cached(&format!(
                    "INSERT INTO users (email, name, name_lower, role, password_hash, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING {USER_COLUMNS}"
                ))
                .await
                .map_err(classify)?;
            let row = tx
                .query_one(
                    &insert,
                    &[
                        &user.email.as_str(),
                        &user.name.as_str(),
                        &user.name.as_str().to_lowercase(),
                        &user.role.as_str(),
                        &user.password_hash.0,
                        &now(),
                    ],
                )
                .await
                .map_err(classify)?;
            let created = user_from_row(&row)?;
            if let Some((claim, render)) = reply {
                tx.execute(
                    "UPDATE idempotency_keys SET user_id = $3, version = $4, body = $5
                     WHERE client = $1 AND key = $2",
                    &[&claim.client, &claim.key, &created.id.0, &created.version, &render(&created)],
                )
                .await
                .map_err(classify)?;
            }
            tx.commit().await.map_err(classify)?;
            Ok(created)
        })
        .await
    }

    pub async fn start_idempotent(
        &self,
        claim: IdempotencyClaim,
        now: i64,
        expired_before: i64,
        abandoned_before: i64,
    ) -> Result<IdempotencyStart, Error> {
        timed(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(classify)?;
            let fingerprint = claim.fingerprint.to_vec();
            // The first request on a key inserts it; every later one finds
            // the row and waits on its lock, so two instances never both
            // start the same request.
            let claimed = tx
                .execute(
                    "INSERT INTO idempotency_keys (client, key, fingerprint, created_at)
                     VALUES ($1, $2, $3, $4) ON CONFLICT (client, key) DO NOTHING",
                    &[&claim.client, &claim.key, &fingerprint, &now],
                )
                .await
                .map_err(classify)?
                == 1;
            let start = if claimed {
                IdempotencyStart::Fresh
            } else {
                let earlier = tx
                    .query_opt(
                        "SELECT fingerprint, user_id, version, body, created_at
                         FROM idempotency_keys WHERE client = $1 AND key = $2 FOR UPDATE",
                        &[&claim.client, &claim.key],
                    )
                    .await
                    .map_err(classify)?
                    .map(|r| earlier_request(&r))
                    .transpose()?;
                let start = judge_idempotency(
                    earlier,
                    &claim.fingerprint,
                    expired_before,
                    abandoned_before,
                );
                if matches!(start, IdempotencyStart::Fresh) {
                    tx.execute(
                        "INSERT INTO idempotency_keys (client, key, fingerprint, created_at)
                         VALUES ($1, $2, $3, $4) ON CONFLICT (client, key) DO UPDATE SET
                             fingerprint = excluded.fingerprint, created_at = excluded.created_at,
                             user_id = NULL, version = NULL, body = NULL",
                        &[&claim.client, &claim.key, &fingerprint, &now],
                    )
                    .await
                    .map_err(classify)?;
                }
                start
            };
            tx.commit().await.map_err(classify)?;
            Ok(start)
        })
        .await
    }

    pub async fn release_idempotent(&self, claim: IdempotencyClaim) -> Result<(), Error> {
        timed(async {
            let client = self.client().await?;
            client
                .execute(
                    "DELETE FROM idempotency_keys WHERE client = $1 AND key = $2 AND body IS NULL",
                    &[&claim.client, &claim.key],
                )
                .await
                .map(drop)
                .map_err(classify)
        })
        .await
    }

    pub async fn begin_signin_attempt(
        &self,
        account: Throttled,
        address: Throttled,
        rules: ThrottleRules,
        now: i64,
    ) -> Result<Option<u64>, Error> {
        timed(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(classify)?;
            let account_key = account.key();
            let on_account = locked_failure_record(&tx, &account_key).await?;
            let on_address = failure_record(&tx, &address.key()).await?;
            let wait = on_account.retry_after(now).max(on_address.retry_after(now));
            if wait.is_none() {
                save_failure_record(&tx, &account_key, rules.count(&account, on_account, now))
                    .await?;
            }
            tx.commit().await.map_err(classify)?;
            Ok(wait)
        })
        .await
    }

    pub async fn end_signin_attempt(
        &self,
        account: Throttled,
        address: Throttled,
        verdict: Option<bool>,
        rules: ThrottleRules,
        now: i64,
    ) -> Result<(), Error> {
        timed(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(classify)?;
            match verdict {
                Some(true) => {
                    tx.execute(
                        "DELETE FROM signin_failures WHERE key = $1",
                        &[&account.key()],
                    )
                    .await
                    .map_err(classify)?;
                }
                Some(false) => {
                    let key = address.key();
                    let record = locked_failure_record(&tx, &key).await?;
                    save_failure_record(&tx, &key, rules.count(&address, record, now)).await?;
                }
                None => {
                    let key = account.key();
                    let record = locked_failure_record(&tx, &key).await?;
                    save_failure_record(&tx, &key, rules.give_back(record)).await?;
                }
            }
            tx.commit().await.map_err(classify)
        })
        .await
    }

    pub async fn upgrade_password_hash(
        &self,
        id: UserId,
        old: String,
        new: String,
    ) -> Result<(), Error> {
        timed(async {
            let client = self.client().await?;
            client
                .execute(
                    "UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2",
                    &[&id.0, &old, &new],
                )
                .await
                .map(drop)
                .map_err(classify)
        })
        .await
    }

    pub async fn prune(
        &self,
        now: i64,
        rules: ThrottleRules,
        keys_before: i64,
    ) -> Result<u64, Error> {
        const BATCH: i64 = 1000;
        let mut total = 0;
        loop {
            let deleted = timed(async {
                let mut client = self.client().await?;
                let tx = client.transaction().await.map_err(classify)?;
                let mut deleted = tx
                    .execute(
                        "DELETE FROM tokens WHERE hash IN
                         (SELECT hash FROM tokens WHERE expires_at <= $1 LIMIT $2)",
                        &[&now, &BATCH],
                    )
                    .await
                    .map_err(classify)?;
                deleted += tx
                    .execute(
                        "DELETE FROM idempotency_keys WHERE (client, key) IN
                         (SELECT client, key FROM idempotency_keys WHERE created_at <= $1 LIMIT $2)",
                        &[&keys_before, &BATCH],
                    )
                    .await
                    .map_err(classify)?;
                deleted += tx
                    .execute(
                        "DELETE FROM signin_failures WHERE key IN
                         (SELECT key FROM signin_failures WHERE blocked_until <= $1 AND (
                             (key LIKE 'address:%' AND window_start <= $1 - $2)
                             OR window_start <= $1 - $3) LIMIT $4)",
                        &[
                            &now,
                            &rules.address_window_secs,
                            &rules.account_memory_secs,
                            &BATCH,
                        ],
                    )
                    .await
                    .map_err(classify)?;
                tx.commit().await.map_err(classify)?;
                Ok(deleted)
            })
            .await?;
            total += deleted;
            if deleted < BATCH as u64 {
                return Ok(total);
            }
        }
    }

    pub async fn user(&self, id: UserId) -> Result<Option<User>, Error> {
        timed(async {
            let client = self.client().await?;
            let stmt = client.prepare_cached(USER_BY_ID).await.map_err(classify)?;
            client
                .query_opt(&stmt, &[&id.0])
                .await
                .map_err(classify)?
                .map(|r| user_from_row(&r))
                .transpose()
        })
        .await
    }

    pub async fn credentials(&self, email: &Email) -> Result<Option<(User, String)>, Error> {
        timed(async {
            let client = self.client().await?;
            let stmt = client
                .prepare_cached(CREDENTIALS_BY_EMAIL)
                .await
                .map_err(classify)?;
            client
                .query_opt(&stmt, &[&email.as_str()])
                .await
                .map_err(classify)?
                .map(|r| Ok((user_from_row(&r)?, r.try_get(8).map_err(classify)?)))
                .transpose()
        })
        .await
    }

    pub async fn list_users(
        &self,
        filter: &UserFilter,
        page: Page,
    ) -> Result<(Vec<User>, u64), Error> {
        // One statement, so the count and the page see the same snapshot;
        // `strpos` matches `q` literally (no LIKE wildcards). The page is
        // joined to the count so an empty page still brings the count.
        const WHERE: &str =
            "($1::text IS NULL OR strpos(email, $1) > 0 OR strpos(name_lower, $1) > 0)
             AND ($2::boolean IS NULL OR is_active = $2) AND ($3::text IS NULL OR role = $3)";
        let (after, skip, limit) = page.bounds();
        let role = filter.role.map(Role::as_str);
        timed(async {
            let client = self.client().await?;
            let stmt = client
                .prepare_cached(&format!(
                    "SELECT total.n, page.* FROM (SELECT count(*) AS n FROM users WHERE {WHERE}) total
                     LEFT JOIN LATERAL (SELECT {USER_COLUMNS} FROM users WHERE {WHERE} AND id > $4
                         ORDER BY id LIMIT $5 OFFSET $6) page ON true"
                ))
                .await
                .map_err(classify)?;
            let rows = client
                .query(
                    &stmt,
                    &[&filter.q, &filter.is_active, &role, &after, &limit, &skip],
                )
                .await
                .map_err(classify)?;
            let total: i64 = match rows.first() {
                Some(row) => row.try_get(0).map_err(classify)?,
                None => 0,
            };
            let mut users = Vec::with_capacity(rows.len());
            for row in &rows {
                if row.try_get::<_, Option<i64>>(1).map_err(classify)?.is_some() {
                    users.push(user_at(row, 1).map_err(classify)?);
                }
            }
            Ok((users, total as u64))
        })
        .await
    }

    pub async fn update_user(
        &self,
        id: UserId,
        changes: UserChanges,
        expected_version: Option<i64>,
        revocation: Option<TokenRevocation>,
    ) -> Result<User, Error> {
        timed(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(classify)?;
            let current = locked_user(&tx, id, expected_version).await?;
            if removes_an_admin(&current, changes.role, changes.is_active)
                && other_active_admins(&tx, id).await? == 0
            {
                return Err(Error::LastAdmin);
            }
            let update = tx
                .prepare_cached(&format!(
                    "UPDATE users SET
                        email = coalesce($2, email),
                        name = coalesce($3, name),
                        name_lower = coalesce($4, name_lower),
                        password_hash = coalesce($5, password_hash),
                        is_active = coalesce($6, is_active),
                        role = coalesce($7, role),
                        version = version + 1,
                        updated_at = $8
                     WHERE id = $1 RETURNING {USER_COLUMNS}"
                ))
                .await
                .map_err(classify)?;
            let row = tx
                .query_one(
                    &update,
                    &[
                        &id.0,
                        &changes.email.as_ref().map(Email::as_str),
                        &changes.name.as_ref().map(|n| n.as_str()),
                        &changes.name.as_ref().map(|n| n.as_str().to_lowercase()),
                        &changes.password_hash.as_ref().map(|h| h.0.as_str()),
                        &changes.is_active,
                        &changes.role.map(Role::as_str),
                        &now(),
                    ],
                )
                .await
                .map_err(classify)?;
            let updated = user_from_row(&row)?;
            if changes.password_hash.is_some() {
                for email in [&current.email, &updated.email] {
                    tx.execute(
                        "DELETE FROM signin_failures WHERE key = $1",
                        &[&Throttled::Account(email.as_str().to_owned()).key()],
                    )
                    .await
                    .map_err(classify)?;
                }
            }
            if let Some(keep) = revocation_after(&changes, revocation) {
                let keep = keep.map(|k| k.0.to_vec());
                tx.execute(
                    "DELETE FROM tokens WHERE user_id = $1 AND ($2::bytea IS NULL OR hash <> $2)",
                    &[&id.0, &keep],
                )
                .await
                .map_err(classify)?;
            }
            tx.commit().await.map_err(classify)?;
            Ok(updated)
        })
        .await
    }

    pub async fn delete_user(
        &self,
        id: UserId,
        expected_version: Option<i64>,
    ) -> Result<(), Error> {
        timed(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(classify)?;
            let current = locked_user(&tx, id, expected_version).await?;
            if current.is_admin() && current.is_active && other_active_admins(&tx, id).await? == 0 {
                return Err(Error::LastAdmin);
            }
            // Tokens go with the user (ON DELETE CASCADE).
            tx.execute("DELETE FROM users WHERE id = $1", &[&id.0])
                .await
                .map_err(classify)?;
            tx.commit().await.map_err(classify)
        })
        .await
    }

    pub async fn insert_token(
        &self,
        hash: TokenHash,
        user: UserId,
        expires_at: i64,
    ) -> Result<bool, Error> {
        timed(async {
            let client = self.client().await?;
            // `FOR SHARE` waits for a deactivation or deletion in flight on
            // another instance, then sees its outcome: a token is never
            // issued to a user whose tokens that change just ended.
            let stmt = client
                .prepare_cached(
                    "WITH owner AS (SELECT id FROM users WHERE id = $2 AND is_active FOR SHARE)
                     INSERT INTO tokens (hash, user_id, expires_at, created_at)
                     SELECT $1, id, $3, $4 FROM owner",
                )
                .await
                .map_err(classify)?;
            client
                .execute(&stmt, &[&hash.0.as_slice(), &user.0, &expires_at, &now()])
                .await
                .map(|rows| rows == 1)
                .map_err(classify)
        })
        .await
    }

    pub async fn user_by_token(&self, hash: TokenHash, now: i64) -> Result<Option<User>, Error> {
        timed(async {
            let client = self.client().await?;
            let stmt = client
                .prepare_cached(USER_BY_TOKEN)
                .await
                .map_err(classify)?;
            client
                .query_opt(&stmt, &[&hash.0.as_slice(), &now])
                .await
                .map_err(classify)?
                .map(|r| user_from_row(&r))
                .transpose()
        })
        .await
    }

    pub async fn revoke_token(&self, hash: TokenHash) -> Result<(), Error> {
        timed(async {
            let client = self.client().await?;
            client
                .execute("DELETE FROM tokens WHERE hash = $1", &[&hash.0.as_slice()])
                .await
                .map(drop)
                .map_err(classify)
        })
        .await
    }
}

type Tx<'a> = deadpool_postgres::Transaction<'a>;

fn earlier_request(row: &Row) -> Result<EarlierRequest, Error> {
    let user_id: Option<i64> = row.try_get(1).map_err(classify)?;
    let version: Option<i64> = row.try_get(2).map_err(classify)?;
    let body: Option<String> = row.try_get(3).map_err(classify)?;
    Ok(EarlierRequest {
        fingerprint: row.try_get(0).map_err(classify)?,
        reply: match (user_id, version, body) {
            (Some(user_id), Some(version), Some(body)) => Some(StoredReply {
                user_id: UserId(user_id),
                version,
                body,
            }),
            _ => None,
        },
        created_at: row.try_get(4).map_err(classify)?,
    })
}

/// The user, locked until the transaction ends, checked against `If-Match`.
async fn locked_user(
    tx: &Tx<'_>,
    id: UserId,
    expected_version: Option<i64>,
) -> Result<User, Error> {
    let row = tx
        .query_opt(&format!("{USER_BY_ID} FOR UPDATE"), &[&id.0])
        .await
        .map_err(classify)?
        .ok_or(Error::NotFound)?;
    let current = user_from_row(&row)?;
    match expected_version {
        Some(v) if v != current.version => Err(Error::StaleVersion),
        _ => Ok(current),
    }
}

/// Counts the other active admins under `ADMINS_LOCK`. Read committed: the
/// count is a new snapshot taken after the lock, so it sees a demotion that
/// another instance committed while this one waited.
async fn other_active_admins(tx: &Tx<'_>, id: UserId) -> Result<i64, Error> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&ADMINS_LOCK])
        .await
        .map_err(classify)?;
    tx.query_one(
        "SELECT count(*) FROM users WHERE role = 'admin' AND is_active AND id <> $1",
        &[&id.0],
    )
    .await
    .and_then(|r| r.try_get(0))
    .map_err(classify)
}

async fn failure_record(tx: &Tx<'_>, key: &str) -> Result<FailureRecord, Error> {
    read_failure_record(tx, key, "").await
}

/// The record, locked until the transaction ends: an attempt on another
/// instance waits here, then sees this one's count.
async fn locked_failure_record(tx: &Tx<'_>, key: &str) -> Result<FailureRecord, Error> {
    // A row to lock must exist; an all-zero row means "no failures".
    tx.execute(
        "INSERT INTO signin_failures (key, failures, window_start, blocked_until)
         VALUES ($1, 0, 0, 0) ON CONFLICT (key) DO NOTHING",
        &[&key],
    )
    .await
    .map_err(classify)?;
    read_failure_record(tx, key, " FOR UPDATE").await
}

async fn read_failure_record(tx: &Tx<'_>, key: &str, lock: &str) -> Result<FailureRecord, Error> {
    let row = tx
        .query_opt(
            &format!(
                "SELECT failures, window_start, blocked_until FROM signin_failures WHERE key = $1{lock}"
            ),
            &[&key],
        )
        .await
        .map_err(classify)?;
    match row {
        None => Ok(FailureRecord::default()),
        Some(r) => Ok(FailureRecord {
            failures: r.try_get(0).map_err(classify)?,
            window_start: r.try_get(1).map_err(classify)?,
            blocked_until: r.try_get(2).map_err(classify)?,
        }),
    }
}

async fn save_failure_record(tx: &Tx<'_>, key: &str, record: FailureRecord) -> Result<(), Error> {
    tx.execute(
        "INSERT INTO signin_failures (key, failures, window_start, blocked_until)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (key) DO UPDATE SET failures = excluded.failures,
             window_start = excluded.window_start, blocked_until = excluded.blocked_until",
        &[
            &key,
            &record.failures,
            &record.window_start,
            &record.blocked_until,
        ],
    )
    .await
    .map(drop)
    .map_err(classify)
}
