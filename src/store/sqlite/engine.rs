//! The SQLite connection engine: the one writer thread that owns the write
//! connection, the stack of read connections used inline, and the watch on
//! the database file (moved, removed or replaced → 503, then reopened). It
//! knows no table; the operations in the sibling modules run through
//! `read` and `write`. It stays one file because the writer, the readers
//! and the file watch share one piece of state (`Shared`) and one reason
//! to change: how the process holds the file.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::oneshot;

use super::{classify, migrate};
use crate::store::{now, Error};

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
/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 64;
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

fn open_connection(
    path: &Path,
    flags: OpenFlags,
    busy_timeout: Duration,
) -> Result<Connection, Error> {
    let conn = Connection::open_with_flags(path, flags).map_err(classify)?;
    conn.busy_timeout(busy_timeout).map_err(classify)?;
    conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;")
        .map_err(classify)?;
    // The listing has a statement per filter combination (`users.rs`):
    // room for all of them beside the hot reads (rusqlite keeps 16).
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
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
    migrate(&mut conn)?;
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
    pub(super) fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, Error> {
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
    pub(super) async fn write<T: Send + 'static>(
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
}
