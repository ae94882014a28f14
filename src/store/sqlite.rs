//! The embedded SQLite backend.
//!
//! Reads run inline on the calling async worker, each on a connection taken
//! from a small stack (a few microseconds; see `store` for the measurement).
//! Writes are sent to one writer thread that owns the only write connection,
//! so they never block an async worker and never wait on each other's locks.
//! WAL with `synchronous=FULL`: a write is on disk when its reply is sent.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rusqlite::{
    params, Connection, ErrorCode, OpenFlags, OptionalExtension, Row, TransactionBehavior,
};
use tokio::sync::oneshot;

use super::{
    judge_idempotency, migrate, now, revocation_after, EarlierRequest, Error, IdempotencyClaim,
    IdempotencyStart, NewUserRow, Page, RenderReply, StoredReply, TokenHash, TokenRevocation,
    UserChanges, UserFilter,
};
use crate::domain::policy::removes_an_admin;
use crate::domain::throttle::{FailureRecord, ThrottleRules, Throttled};
use crate::domain::{Email, Role, User, UserId};

/// How long a write waits for a lock held by another process (a backup,
/// another instance on the same file) before the request gets 503. Once a
/// write has failed that way, the next ones do not wait at all until one
/// succeeds: a held lock must not turn the write queue into minutes of
/// waiting.
const WRITE_BUSY_TIMEOUT: Duration = Duration::from_secs(2);
/// Reads run on the async workers, so they may barely wait; in WAL mode a
/// reader is blocked only by another process's exclusive locking mode.
const READ_BUSY_TIMEOUT: Duration = Duration::from_millis(200);
/// How long a readiness probe waits for the write lock.
const PROBE_BUSY_TIMEOUT: Duration = Duration::from_millis(100);
/// Writes waiting for the writer thread; past that, 503 at once.
const WRITE_QUEUE: usize = 1024;
/// How often the writer thread looks whether the database file is still
/// the one it opened, when no write comes.
const WATCH_INTERVAL: Duration = Duration::from_millis(250);

/// Whether a write found the database answering; the writer thread's
/// fail-fast mode follows it.
enum Outcome {
    Healthy,
    Failing,
    Skipped,
}

type Job = Box<dyn FnOnce(&mut Writer) -> Outcome + Send>;

/// State the async side and the writer thread share.
struct Shared {
    path: PathBuf,
    readers: Mutex<Vec<Connection>>,
    /// Bumped when the file is found moved or removed: pooled readers of
    /// the old file are dropped, never reused.
    generation: AtomicU64,
    /// False while the file the service opened is gone: reads fail fast.
    in_place: AtomicBool,
    /// True after a write found the database busy, full or failing, until
    /// one succeeds.
    write_failing: AtomicBool,
    /// The file the writer has open: a reader opens a new connection only
    /// on that file, never on one put at the path before the writer saw it.
    opened: Mutex<Option<FileId>>,
}

pub struct SqliteStore {
    shared: Arc<Shared>,
    writer: SyncSender<Job>,
}

/// What identifies the file behind a path: a replaced or removed file has
/// another (or none).
#[derive(Clone, Copy, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
}

fn file_id(path: &Path) -> Option<FileId> {
    std::fs::metadata(path).ok().map(|m| FileId {
        dev: m.dev(),
        ino: m.ino(),
    })
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
            | ErrorCode::ReadOnly
            | ErrorCode::NotADatabase
            | ErrorCode::DatabaseCorrupt,
        ) => Error::Unavailable(err.to_string()),
        _ => Error::Internal(err.to_string()),
    }
}

fn open_connection(
    path: &Path,
    flags: OpenFlags,
    busy_timeout: Duration,
) -> Result<Connection, Error> {
    let conn = Connection::open_with_flags(path, flags).map_err(classify)?;
    conn.busy_timeout(busy_timeout).map_err(classify)?;
    conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;")
        .map_err(classify)?;
    Ok(conn)
}

/// The write connection, in WAL mode, migrated, capped at `max_pages`.
/// `busy_timeout` applies while opening; the connection then waits
/// `WRITE_BUSY_TIMEOUT` for locks.
fn open_writer(
    path: &Path,
    create: bool,
    max_pages: Option<u64>,
    busy_timeout: Duration,
) -> Result<Connection, Error> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let mut conn = open_connection(path, flags, busy_timeout)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(classify)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::Unsupported(format!(
            "cannot put {} in WAL mode (journal_mode is {mode}); user-api needs a file on a local disk",
            path.display()
        )));
    }
    if let Some(pages) = max_pages {
        conn.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))
            .map_err(classify)?;
    }
    migrate::sqlite(&mut conn)?;
    conn.busy_timeout(WRITE_BUSY_TIMEOUT).map_err(classify)?;
    Ok(conn)
}

/// The files SQLite keeps beside a database in WAL mode.
fn sidecars(path: &Path) -> [PathBuf; 2] {
    let with = |suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    [with("-wal"), with("-shm")]
}

/// What identifies the database file and its sidecars as opened.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Opened {
    db: FileId,
    sidecars: [Option<FileId>; 2],
}

fn opened(path: &Path) -> Option<Opened> {
    let [wal, shm] = sidecars(path);
    Some(Opened {
        db: file_id(path)?,
        sidecars: [file_id(&wal), file_id(&shm)],
    })
}

/// The writer thread's side: the only write connection, reopened when the
/// file it was opened on is replaced or comes back after being removed.
struct Writer {
    shared: Arc<Shared>,
    conn: Option<(Connection, Opened)>,
    max_pages: Option<u64>,
    failing: bool,
}

impl Writer {
    /// The write connection, reopening the file if it was lost. Reopening
    /// does not wait for locks: a file someone holds is 503 at once, and
    /// tried again at the next write or watch.
    fn connection(&mut self) -> Result<&mut Connection, Error> {
        if self.conn.is_none() {
            let path = &self.shared.path;
            let missing =
                || Error::Unavailable(format!("the database file {} is missing", path.display()));
            if file_id(path).is_none() {
                return Err(missing());
            }
            let conn = open_writer(path, false, self.max_pages, Duration::ZERO)?;
            let ids = opened(path).ok_or_else(missing)?;
            tracing::warn!(path = %path.display(), "database file reopened");
            *self.shared.opened.lock() = Some(ids.db);
            self.conn = Some((conn, ids));
            self.shared.in_place.store(true, Ordering::SeqCst);
            if self.failing {
                self.set_failing(true);
            }
        }
        match &mut self.conn {
            Some((conn, _)) => Ok(conn),
            None => Err(Error::Unavailable("no database connection".into())),
        }
    }

    /// Whether the path still names the file this connection has open. When
    /// it does not, every connection to the old file is closed, so nothing
    /// more is written where no one will find it, and the old file's `-wal`
    /// and `-shm` are moved out of the way: SQLite would otherwise apply
    /// the old file's log to whatever database is put at the path next.
    fn file_in_place(&mut self) -> bool {
        let Some((_, ids)) = &self.conn else {
            return false;
        };
        let ids = *ids;
        if file_id(&self.shared.path) == Some(ids.db) {
            return true;
        }
        tracing::error!(path = %self.shared.path.display(), "the database file was moved or removed; writes and reads answer 503 until it is back");
        self.shared.in_place.store(false, Ordering::SeqCst);
        *self.shared.opened.lock() = None;
        self.shared.generation.fetch_add(1, Ordering::SeqCst);
        self.shared.readers.lock().clear();
        self.conn = None;
        let stamp = now();
        for (sidecar, id) in sidecars(&self.shared.path).iter().zip(ids.sidecars) {
            if id.is_some() && file_id(sidecar) == id {
                let mut aside = sidecar.as_os_str().to_owned();
                aside.push(format!(".orphaned-{stamp}"));
                if let Err(e) = std::fs::rename(sidecar, &aside) {
                    tracing::error!(file = %sidecar.display(), error = %e, "cannot move the old file's log aside");
                }
            }
        }
        false
    }

    /// Between writes: notice a lost file, and reopen one that came back.
    fn watch(&mut self) {
        if self.conn.is_some() {
            self.file_in_place();
        } else if file_id(&self.shared.path).is_some() {
            let _ = self.connection();
        }
    }

    fn run(&mut self, job: Job) {
        self.watch();
        let failing = match job(self) {
            Outcome::Skipped => self.failing,
            Outcome::Healthy => false,
            Outcome::Failing => true,
        };
        // Also after a job that changed the connection's timeout itself.
        self.set_failing(failing);
    }

    fn set_failing(&mut self, failing: bool) {
        self.failing = failing;
        self.shared.write_failing.store(failing, Ordering::SeqCst);
        let wait = if failing {
            Duration::ZERO
        } else {
            WRITE_BUSY_TIMEOUT
        };
        if let Some((conn, _)) = &self.conn {
            let _ = conn.busy_timeout(wait);
        }
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the file, refusing one that cannot be in
    /// WAL mode, and starts the writer thread. `max_bytes` caps the file:
    /// past it writes get 503 and reads go on.
    pub fn open(path: &Path, max_bytes: Option<u64>) -> Result<Self, Error> {
        let conn = open_writer(path, true, None, WRITE_BUSY_TIMEOUT)?;
        let page_size: u64 = conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .map_err(classify)?;
        let max_pages = max_bytes.map(|bytes| (bytes / page_size.max(1)).max(1));
        if let Some(pages) = max_pages {
            conn.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))
                .map_err(classify)?;
        }
        let ids = opened(path).ok_or_else(|| {
            Error::Unavailable(format!("cannot stat the database file {}", path.display()))
        })?;
        let shared = Arc::new(Shared {
            path: path.to_owned(),
            readers: Mutex::new(Vec::new()),
            generation: AtomicU64::new(0),
            in_place: AtomicBool::new(true),
            write_failing: AtomicBool::new(false),
            opened: Mutex::new(Some(ids.db)),
        });
        let mut writer = Writer {
            shared: shared.clone(),
            conn: Some((conn, ids)),
            max_pages,
            failing: false,
        };
        let (jobs_in, jobs) = sync_channel::<Job>(WRITE_QUEUE);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || loop {
                match jobs.recv_timeout(WATCH_INTERVAL) {
                    Ok(job) => writer.run(job),
                    Err(RecvTimeoutError::Timeout) => writer.watch(),
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            })
            .map_err(|e| Error::Internal(e.to_string()))?;
        Ok(Self {
            shared,
            writer: jobs_in,
        })
    }

    /// Runs a read on a pooled connection, on the calling thread.
    fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, Error> {
        let shared = &self.shared;
        if !shared.in_place.load(Ordering::SeqCst) {
            return Err(Error::Unavailable(format!(
                "the database file {} was moved or removed",
                shared.path.display()
            )));
        }
        let generation = shared.generation.load(Ordering::SeqCst);
        let pooled = shared.readers.lock().pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => {
                let current = file_id(&shared.path);
                if current.is_none() || current != *shared.opened.lock() {
                    return Err(Error::Unavailable(format!(
                        "the database file {} changed; waiting for the writer to reopen it",
                        shared.path.display()
                    )));
                }
                let conn = open_connection(
                    &shared.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                    READ_BUSY_TIMEOUT,
                )?;
                metrics::gauge!("db_read_connections").increment(1);
                conn
            }
        };
        let result = f(&conn).map_err(classify);
        // Reads run inline and never yield, so at most one connection per
        // thread that calls here is ever out: the stack stays small. One
        // left inside a transaction would serve an old snapshot, and one of
        // a file since replaced would serve the wrong data: drop them.
        if conn.is_autocommit() && shared.generation.load(Ordering::SeqCst) == generation {
            shared.readers.lock().push(conn);
        } else {
            metrics::gauge!("db_read_connections").decrement(1);
        }
        result
    }

    /// Runs a write on the writer thread and waits for its result. A full
    /// queue is 503 at once; a job whose caller has gone (timed out) is
    /// skipped; a write that lands in a file moved away meanwhile is 503,
    /// never a success.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let (reply, result) = oneshot::channel();
        let job: Job = Box::new(move |writer| {
            if reply.is_closed() {
                return Outcome::Skipped;
            }
            let result = writer.connection().and_then(f);
            let result = match result {
                Ok(_) if !writer.file_in_place() => Err(Error::Unavailable(
                    "the database file was moved or removed during the write".into(),
                )),
                other => other,
            };
            let outcome = match &result {
                Err(Error::Unavailable(_)) => Outcome::Failing,
                _ => Outcome::Healthy,
            };
            let _ = reply.send(result);
            outcome
        });
        self.writer.try_send(job).map_err(|e| match e {
            TrySendError::Full(_) => Error::Unavailable("the write queue is full".into()),
            TrySendError::Disconnected(_) => Error::Unavailable("writer thread stopped".into()),
        })?;
        result
            .await
            .map_err(|_| Error::Unavailable("writer thread stopped".into()))?
    }

    /// Whether the database answers: a read, and the write lock taken and
    /// given back, waiting at most `PROBE_BUSY_TIMEOUT` (a lock held by
    /// another process means "not ready").
    pub async fn ping(&self) -> Result<(), Error> {
        self.read(|c| c.query_row("SELECT 1", [], |_| Ok(())))?;
        self.write(|conn| {
            conn.busy_timeout(PROBE_BUSY_TIMEOUT).map_err(classify)?;
            let probed = conn
                .execute_batch("BEGIN IMMEDIATE; ROLLBACK;")
                .map_err(classify);
            conn.busy_timeout(WRITE_BUSY_TIMEOUT).map_err(classify)?;
            probed
        })
        .await
    }

    /// Inserts the user and, with an idempotency claim, stores the reply in
    /// the same transaction: a retry finds either nothing done or the reply.
    pub async fn create_user(
        &self,
        user: NewUserRow,
        reply: Option<(IdempotencyClaim, RenderReply)>,
    ) -> Result<User, Error> {
        self.write(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(classify)?;
            let at = now();
            let created = tx
                .prepare_cached(&format!(
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
                .map_err(classify)?;
            if let Some((claim, render)) = reply {
                tx.execute(
                    "UPDATE idempotency_keys SET user_id = ?3, version = ?4, body = ?5
                     WHERE client = ?1 AND key = ?2",
                    params![claim.client, claim.key, created.id.0, created.version, render(&created)],
                )
                .map_err(classify)?;
            }
            tx.commit().map_err(classify)?;
            Ok(created)
        })
        .await
    }

    /// Claims an idempotency key, or tells what an earlier request with it
    /// left: its reply, "still running", or another body.
    pub async fn start_idempotent(
        &self,
        claim: IdempotencyClaim,
        now: i64,
        expired_before: i64,
        abandoned_before: i64,
    ) -> Result<IdempotencyStart, Error> {
        self.write(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(classify)?;
            let earlier = tx
                .query_row(
                    "SELECT fingerprint, user_id, version, body, created_at
                     FROM idempotency_keys WHERE client = ?1 AND key = ?2",
                    params![claim.client, claim.key],
                    |r| {
                        let reply = match (r.get(1)?, r.get(2)?, r.get(3)?) {
                            (Some(user_id), Some(version), Some(body)) => Some(StoredReply {
                                user_id: UserId(user_id),
                                version,
                                body,
                            }),
                            _ => None,
                        };
                        Ok(EarlierRequest {
                            fingerprint: r.get(0)?,
                            reply,
                            created_at: r.get(4)?,
                        })
                    },
                )
                .optional()
                .map_err(classify)?;
            let start = judge_idempotency(
                earlier,
                &claim.fingerprint,
                expired_before,
                abandoned_before,
            );
            if matches!(start, IdempotencyStart::Fresh) {
                tx.execute(
                    "INSERT OR REPLACE INTO idempotency_keys (client, key, fingerprint, created_at)
                     VALUES (?1, ?2, ?3, ?4)",
                    params![claim.client, claim.key, claim.fingerprint.to_vec(), now],
                )
                .map_err(classify)?;
            }
            tx.commit().map_err(classify)?;
            Ok(start)
        })
        .await
    }

    /// Gives up a claimed key whose request ended without creating a user,
    /// so a retry runs again.
    pub async fn release_idempotent(&self, claim: IdempotencyClaim) -> Result<(), Error> {
        self.write(move |conn| {
            conn.execute(
                "DELETE FROM idempotency_keys WHERE client = ?1 AND key = ?2 AND body IS NULL",
                params![claim.client, claim.key],
            )
            .map(drop)
            .map_err(classify)
        })
        .await
    }

    /// Starts a sign-in attempt: refused with the longest wait while the
    /// account or the address must wait; else counted against the account
    /// before its password is checked, so racing guesses buy no extra tries.
    pub async fn begin_signin_attempt(
        &self,
        account: Throttled,
        address: Throttled,
        rules: ThrottleRules,
        now: i64,
    ) -> Result<Option<u64>, Error> {
        self.write(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(classify)?;
            let account_key = account.key();
            let on_account = failure_record(&tx, &account_key)?;
            let on_address = failure_record(&tx, &address.key())?;
            let wait = on_account.retry_after(now).max(on_address.retry_after(now));
            if wait.is_none() {
                save_failure_record(&tx, &account_key, rules.count(&account, on_account, now))?;
            }
            tx.commit().map_err(classify)?;
            Ok(wait)
        })
        .await
    }

    /// Ends a counted attempt: a right password resets the account, a
    /// wrong one (already counted on the account) is counted on the
    /// address, and no verdict gives the account its attempt back.
    pub async fn end_signin_attempt(
        &self,
        account: Throttled,
        address: Throttled,
        verdict: Option<bool>,
        rules: ThrottleRules,
        now: i64,
    ) -> Result<(), Error> {
        self.write(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(classify)?;
            match verdict {
                Some(true) => {
                    tx.execute(
                        "DELETE FROM signin_failures WHERE key = ?1",
                        [account.key()],
                    )
                    .map_err(classify)?;
                }
                Some(false) => {
                    let key = address.key();
                    let record = failure_record(&tx, &key)?;
                    save_failure_record(&tx, &key, rules.count(&address, record, now))?;
                }
                None => {
                    let key = account.key();
                    let record = failure_record(&tx, &key)?;
                    save_failure_record(&tx, &key, rules.give_back(record))?;
                }
            }
            tx.commit().map_err(classify)
        })
        .await
    }

    /// Replaces a password hash with a stronger one, unless the password
    /// was changed meanwhile. Not a change the client sees: no new version.
    pub async fn upgrade_password_hash(
        &self,
        id: UserId,
        old: String,
        new: String,
    ) -> Result<(), Error> {
        self.write(move |conn| {
            conn.execute(
                "UPDATE users SET password_hash = ?3 WHERE id = ?1 AND password_hash = ?2",
                params![id.0, old, new],
            )
            .map(drop)
            .map_err(classify)
        })
        .await
    }

    /// Deletes what has expired, a batch per transaction so writers never
    /// wait long; returns how many rows went.
    pub async fn prune(
        &self,
        now: i64,
        rules: ThrottleRules,
        keys_before: i64,
    ) -> Result<u64, Error> {
        const BATCH: i64 = 1000;
        let mut total = 0;
        loop {
            let deleted = self
                .write(move |conn| {
                    let tx = conn
                        .transaction_with_behavior(TransactionBehavior::Immediate)
                        .map_err(classify)?;
                    let mut deleted = tx
                        .execute(
                            "DELETE FROM tokens WHERE hash IN
                             (SELECT hash FROM tokens WHERE expires_at <= ?1 LIMIT ?2)",
                            params![now, BATCH],
                        )
                        .map_err(classify)?;
                    deleted += tx
                        .execute(
                            "DELETE FROM idempotency_keys WHERE (client, key) IN
                             (SELECT client, key FROM idempotency_keys WHERE created_at <= ?1 LIMIT ?2)",
                            params![keys_before, BATCH],
                        )
                        .map_err(classify)?;
                    deleted += tx
                        .execute(
                            "DELETE FROM signin_failures WHERE key IN
                             (SELECT key FROM signin_failures WHERE blocked_until <= ?1 AND (
                                 (key LIKE 'address:%' AND window_start <= ?1 - ?2)
                                 OR window_start <= ?1 - ?3) LIMIT ?4)",
                            params![
                                now,
                                rules.address_window_secs,
                                rules.account_memory_secs,
                                BATCH
                            ],
                        )
                        .map_err(classify)?;
                    tx.commit().map_err(classify)?;
                    Ok(deleted as u64)
                })
                .await?;
            total += deleted;
            if deleted < BATCH as u64 {
                return Ok(total);
            }
        }
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
        let (after, skip, limit) = page.bounds();
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
            // Unfiltered, a bare count(*): SQLite counts the entries of its
            // smallest index instead of decoding every row to evaluate the
            // filter (bench/results/latest.md: 3.4k req/s for the admin
            // listing of 10,000 users with the filtered shape).
            let total: i64 = if filter.is_empty() {
                tx.prepare_cached("SELECT count(*) FROM users")?
                    .query_row([], |r| r.get(0))?
            } else {
                tx.prepare_cached(&format!("SELECT count(*) FROM users WHERE {WHERE}"))?
                    .query_row(params![filter.q, filter.is_active, role], |r| r.get(0))?
            };
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
                            changes.password_hash.as_ref().map(|h| h.0.as_str()),
                            changes.is_active,
                            changes.role.map(Role::as_str),
                            now()
                        ],
                        user_from_row,
                    )
                })
                .map_err(classify)?;
            // A password set (by an admin, or by its owner who proved the
            // old one) ends any wait of the account, under both emails.
            if changes.password_hash.is_some() {
                for email in [&current.email, &updated.email] {
                    tx.execute(
                        "DELETE FROM signin_failures WHERE key = ?1",
                        [Throttled::Account(email.as_str().to_owned()).key()],
                    )
                    .map_err(classify)?;
                }
            }
            if let Some(keep) = revocation_after(&changes, revocation) {
                tx.execute(
                    "DELETE FROM tokens WHERE user_id = ?1 AND (?2 IS NULL OR hash <> ?2)",
                    params![id.0, keep.map(|k| k.0)],
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

fn failure_record(tx: &rusqlite::Transaction<'_>, key: &str) -> Result<FailureRecord, Error> {
    tx.prepare_cached(
        "SELECT failures, window_start, blocked_until FROM signin_failures WHERE key = ?1",
    )
    .and_then(|mut s| {
        s.query_row([key], |r| {
            Ok(FailureRecord {
                failures: r.get(0)?,
                window_start: r.get(1)?,
                blocked_until: r.get(2)?,
            })
        })
        .optional()
    })
    .map(Option::unwrap_or_default)
    .map_err(classify)
}

fn save_failure_record(
    tx: &rusqlite::Transaction<'_>,
    key: &str,
    record: FailureRecord,
) -> Result<(), Error> {
    tx.prepare_cached(
        "INSERT INTO signin_failures (key, failures, window_start, blocked_until)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (key) DO UPDATE SET failures = excluded.failures,
             window_start = excluded.window_start, blocked_until = excluded.blocked_until",
    )
    .and_then(|mut s| {
        s.execute(params![
            key,
            record.failures,
            record.window_start,
            record.blocked_until
        ])
    })
    .map(drop)
    .map_err(classify)
}
