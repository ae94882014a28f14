//! The embedded SQLite backend.
//!
//! Reads run inline on the calling async worker, each on a connection taken
//! from a small stack (a few microseconds; see `store` for the measurement).
//! Writes are sent to one writer thread that owns the only write connection,
//! so they never block an async worker and never wait on each other's locks.
//! WAL with `synchronous=FULL`: a write is on disk when its reply is sent.

use std::path::{Path, PathBuf};
use std::time::Duration;

use parking_lot::Mutex;
use rusqlite::{
    params, Connection, ErrorCode, OpenFlags, OptionalExtension, Row, TransactionBehavior,
};
use tokio::sync::{mpsc, oneshot};

use super::{
    migrate, now, Error, NewUserRow, Page, TokenHash, TokenRevocation, UserChanges, UserFilter,
};
use crate::domain::policy::{removes_an_admin, Revocation};
use crate::domain::{Email, Role, User, UserId};

/// How long a statement waits for a lock held by another process (a backup,
/// another instance on the same file) before the request gets 503.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Writes waiting for the writer thread before callers wait to enqueue.
const WRITE_QUEUE: usize = 1024;

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

pub struct SqliteStore {
    path: PathBuf,
    readers: Mutex<Vec<Connection>>,
    writer: mpsc::Sender<Job>,
}

/// The columns `user_from_row` reads, in its order. A macro so the hot
/// reads below are `concat!`ed constants, not a `format!` per request.
macro_rules! user_columns {
    () => {
        "id, email, name, role, is_active, created_at, updated_at, version"
    };
}
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
        role: if role == "admin" {
            Role::Admin
        } else {
            Role::User
        },
        is_active: row.get(4)?,
        created_at: row.get(5)?,
        updated_at: row.get(6)?,
        version: row.get(7)?,
    })
}

/// Maps a SQLite error to what it means for the caller. Lock waits and I/O
/// trouble are `Unavailable` (503, worth retrying); the text never reaches a
/// client.
pub(super) fn classify(err: rusqlite::Error) -> Error {
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
            | ErrorCode::ReadOnly,
        ) => Error::Unavailable(err.to_string()),
        _ => Error::Internal(err.to_string()),
    }
}

fn open_connection(path: &Path, flags: OpenFlags) -> Result<Connection, Error> {
    let conn = Connection::open_with_flags(path, flags).map_err(classify)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(classify)?;
    conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;")
        .map_err(classify)?;
    Ok(conn)
}

impl SqliteStore {
    pub fn open(path: &Path) -> Result<Self, Error> {
        let mut conn = open_connection(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(classify)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::Unavailable(format!(
                "cannot put {} in WAL mode (journal_mode is {mode})",
                path.display()
            )));
        }
        migrate::sqlite(&mut conn)?;

        let (writer, mut jobs) = mpsc::channel::<Job>(WRITE_QUEUE);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                while let Some(job) = jobs.blocking_recv() {
                    job(&mut conn);
                }
            })
            .map_err(|e| Error::Internal(e.to_string()))?;

        Ok(Self {
            path: path.to_owned(),
            readers: Mutex::new(Vec::new()),
            writer,
        })
    }

    /// Runs a read on a pooled connection, on the calling thread.
    fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, Error> {
        let pooled = self.readers.lock().pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => {
                let conn = open_connection(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                metrics::gauge!("db_read_connections").increment(1);
                conn
            }
        };
        let result = f(&conn).map_err(classify);
        // Reads run inline and never yield, so at most one connection per
        // thread that calls here is ever out: the stack stays small. One
        // left inside a transaction would serve an old snapshot: drop it.
        if conn.is_autocommit() {
            self.readers.lock().push(conn);
        }
        result
    }

    /// Runs a write on the writer thread and waits for its result.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let (reply, result) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let _ = reply.send(f(conn));
        });
        self.writer
            .send(job)
            .await
            .map_err(|_| Error::Unavailable("writer thread stopped".into()))?;
        result
            .await
            .map_err(|_| Error::Unavailable("writer thread stopped".into()))?
    }

    pub fn ping(&self) -> Result<(), Error> {
        self.read(|c| c.query_row("SELECT 1", [], |_| Ok(())))
    }

    pub async fn create_user(&self, user: NewUserRow) -> Result<User, Error> {
        self.write(move |conn| {
            let at = now();
            conn.prepare_cached(&format!(
                "INSERT INTO users (email, name, name_lower, role, password_hash, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) RETURNING {USER_COLUMNS}"
            ))
            .and_then(|mut stmt| {
                stmt.query_row(
                    params![
                        user.email.as_str(),
                        user.name.as_str(),
                        user.name.as_str().to_lowercase(),
                        user.role.as_str(),
                        user.password_hash.0,
                        at
                    ],
                    user_from_row,
                )
            })
            .map_err(classify)
        })
        .await
    }

    pub fn user(&self, id: UserId) -> Result<Option<User>, Error> {
        self.read(|c| {
            c.prepare_cached(USER_BY_ID)?
                .query_row([id.0], user_from_row)
                .optional()
        })
    }

    pub fn credentials(&self, email: &Email) -> Result<Option<(User, String)>, Error> {
        self.read(|c| {
            c.prepare_cached(CREDENTIALS_BY_EMAIL)?
                .query_row([email.as_str()], |row| {
                    Ok((user_from_row(row)?, row.get(8)?))
                })
                .optional()
        })
    }

    pub fn list_users(&self, filter: &UserFilter, page: Page) -> Result<(Vec<User>, u64), Error> {
        // One statement shape for every filter combination, so it is
        // prepared once; `instr` matches `q` literally (no LIKE wildcards).
        const WHERE: &str = "(?1 IS NULL OR instr(email, ?1) > 0 OR instr(name_lower, ?1) > 0)
             AND (?2 IS NULL OR is_active = ?2) AND (?3 IS NULL OR role = ?3)";
        let (after, skip, limit) = match page {
            Page::Offset { skip, limit } => (0, skip, limit),
            Page::After { id, limit } => (id, 0, limit),
        };
        let skip = i64::try_from(skip).unwrap_or(i64::MAX);
        let role = filter.role.map(Role::as_str);
        self.read(|c| {
            // Both statements in one read transaction: the count and the
            // page see the same snapshot.
            let tx = c.unchecked_transaction()?;
            let users = tx
                .prepare_cached(&format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE {WHERE} AND id > ?4
                         ORDER BY id LIMIT ?5 OFFSET ?6"
                ))?
                .query_map(
                    params![filter.q, filter.is_active, role, after, limit, skip],
                    user_from_row,
                )?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let total: i64 = tx
                .prepare_cached(&format!("SELECT count(*) FROM users WHERE {WHERE}"))?
                .query_row(params![filter.q, filter.is_active, role], |r| r.get(0))?;
            // Dropping `tx` on an error rolls back: no connection goes back
            // to the pool inside a stale read snapshot.
            tx.commit()?;
            Ok((users, total as u64))
        })
    }

    pub async fn update_user(
        &self,
        id: UserId,
        changes: UserChanges,
        expected_version: Option<i64>,
        revocation: Option<TokenRevocation>,
    ) -> Result<User, Error> {
        self.write(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(classify)?;
            let current = locked_user(&tx, id, expected_version)?;
            if removes_an_admin(&current, changes.role, changes.is_active)
                && other_active_admins(&tx, id)? == 0
            {
                return Err(Error::LastAdmin);
            }
            let updated = tx
                .prepare_cached(&format!(
                    "UPDATE users SET
                        email = coalesce(?2, email),
                        name = coalesce(?3, name),
                        name_lower = coalesce(?4, name_lower),
                        password_hash = coalesce(?5, password_hash),
                        is_active = coalesce(?6, is_active),
                        role = coalesce(?7, role),
                        version = version + 1,
                        updated_at = ?8
                     WHERE id = ?1 RETURNING {USER_COLUMNS}"
                ))
                .and_then(|mut stmt| {
                    stmt.query_row(
                        params![
                            id.0,
                            changes.email.as_ref().map(Email::as_str),
                            changes.name.as_ref().map(|n| n.as_str()),
                            changes.name.as_ref().map(|n| n.as_str().to_lowercase()),
                            changes.password_hash.map(|h| h.0),
                            changes.is_active,
                            changes.role.map(Role::as_str),
                            now()
                        ],
                        user_from_row,
                    )
                })
                .map_err(classify)?;
            // A deactivated account's tokens end for good: reactivation must
            // not bring old tokens back to life.
            let revocation = match (changes.is_active, revocation) {
                (Some(false), _) => Some(TokenRevocation {
                    scope: Revocation::All,
                    keep: None,
                }),
                (_, r) => r,
            };
            if let Some(TokenRevocation { scope, keep }) = revocation {
                let keep = match scope {
                    Revocation::All => None,
                    Revocation::AllButCallers => keep.map(|k| k.0),
                };
                tx.execute(
                    "DELETE FROM tokens WHERE user_id = ?1 AND (?2 IS NULL OR hash <> ?2)",
                    params![id.0, keep],
                )
                .map_err(classify)?;
            }
            tx.commit().map_err(classify)?;
            Ok(updated)
        })
        .await
    }

    pub async fn delete_user(
        &self,
        id: UserId,
        expected_version: Option<i64>,
    ) -> Result<(), Error> {
        self.write(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(classify)?;
            let current = locked_user(&tx, id, expected_version)?;
            if current.is_admin() && current.is_active && other_active_admins(&tx, id)? == 0 {
                return Err(Error::LastAdmin);
            }
            // Tokens go with the user (ON DELETE CASCADE).
            tx.execute("DELETE FROM users WHERE id = ?1", [id.0])
                .map_err(classify)?;
            tx.commit().map_err(classify)
        })
        .await
    }

    pub async fn insert_token(
        &self,
        hash: TokenHash,
        user: UserId,
        expires_at: i64,
    ) -> Result<bool, Error> {
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT INTO tokens (hash, user_id, expires_at, created_at)
                 SELECT ?1, id, ?3, ?4 FROM users WHERE id = ?2 AND is_active = 1",
            )
            .and_then(|mut s| s.execute(params![hash.0, user.0, expires_at, now()]))
            .map(|rows| rows == 1)
            .map_err(classify)
        })
        .await
    }

    pub fn user_by_token(&self, hash: TokenHash, now: i64) -> Result<Option<User>, Error> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT u.id, u.email, u.name, u.role, u.is_active, u.created_at, u.updated_at, u.version
                 FROM tokens t JOIN users u ON u.id = t.user_id
                 WHERE t.hash = ?1 AND t.expires_at > ?2 AND u.is_active = 1",
            )?
            .query_row(params![hash.0, now], user_from_row)
            .optional()
        })
    }

    pub async fn revoke_token(&self, hash: TokenHash) -> Result<(), Error> {
        self.write(move |conn| {
            conn.execute("DELETE FROM tokens WHERE hash = ?1", [hash.0])
                .map(drop)
                .map_err(classify)
        })
        .await
    }
}

/// The user as of this write transaction, checked against `If-Match`.
fn locked_user(
    tx: &rusqlite::Transaction<'_>,
    id: UserId,
    expected_version: Option<i64>,
) -> Result<User, Error> {
    let current = tx
        .prepare_cached(USER_BY_ID)
        .and_then(|mut s| s.query_row([id.0], user_from_row).optional())
        .map_err(classify)?
        .ok_or(Error::NotFound)?;
    match expected_version {
        Some(v) if v != current.version => Err(Error::StaleVersion),
        _ => Ok(current),
    }
}

fn other_active_admins(tx: &rusqlite::Transaction<'_>, id: UserId) -> Result<i64, Error> {
    tx.query_row(
        "SELECT count(*) FROM users WHERE role = 'admin' AND is_active = 1 AND id <> ?1",
        [id.0],
        |r| r.get(0),
    )
    .map_err(classify)
}
