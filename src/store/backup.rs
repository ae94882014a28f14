//! `user-api db backup`: an online copy of a serving SQLite store, taken
//! with SQLite's backup API while other processes keep reading and writing
//! it. No HTTP types; only this command's own SQL.
//!
//! The copy is one consistent snapshot: the source connection holds a read
//! transaction for the whole copy. In WAL mode (the only mode `serve`
//! accepts) a reader blocks no writer, and a held snapshot keeps the backup
//! API from restarting each time another process commits — without it, a
//! busy service would restart the copy again and again
//! (<https://sqlite.org/c3ref/backup_finish.html>, `sqlite3_backup_step`).
//! The copy goes a few hundred pages at a time with a short pause between,
//! so its reads share the disk with the service's commits.
//!
//! The copy is written to `TARGET.partial-PID` next to the target, checked
//! with `PRAGMA integrity_check`, flushed to disk, then linked to its name
//! only if that name is still free (never overwriting), and the directory
//! is flushed. On any failure the partial file is removed.

use std::fs::{self, File, OpenOptions};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use super::{DatabaseUrl, Error};
use crate::progress::Progress;

/// Pages copied per step: 1 MiB at the default 4 KiB page size.
const PAGES_PER_STEP: i32 = 256;
/// Pause between steps, so the service's writes get the disk in between.
const PAUSE: Duration = Duration::from_millis(5);
/// How long the source may stay busy (e.g. in WAL recovery) before giving up.
const BUSY_PATIENCE: Duration = Duration::from_secs(10);

/// Copies the store that `database_url` names into the new file `to`;
/// returns the line to print.
pub async fn run(
    database_url: &DatabaseUrl,
    to: &Path,
    progress: &Progress,
) -> Result<String, Error> {
    let source = match database_url {
        DatabaseUrl::Sqlite(path) => path.clone(),
        DatabaseUrl::Postgres(_) => {
            return Err(Error::Unsupported(
                "db backup copies an SQLite file; back up PostgreSQL with pg_dump".into(),
            ))
        }
    };
    let target = to.to_owned();
    let progress = progress.clone();
    tokio::task::spawn_blocking(move || back_up(&source, &target, &progress))
        .await
        .map_err(|e| Error::Internal(format!("the backup task failed: {e}")))?
}

/// What a finished copy holds.
struct Copied {
    users: u64,
}

fn back_up(source: &Path, target: &Path, progress: &Progress) -> Result<String, Error> {
    if !source.is_file() {
        return Err(Error::Unavailable(format!(
            "there is no database at sqlite:{} (nothing to back up)",
            source.display()
        )));
    }
    refuse_existing(target)?;
    let partial = Partial::create(target)?;
    let copied = copy_into(source, &partial.path, progress)?;
    let bytes = publish(partial, target)?;
    Ok(format!(
        "backed up sqlite:{} to {}: {} users, {bytes} bytes, integrity_check ok",
        source.display(),
        target.display(),
        copied.users,
    ))
}

fn refuse_existing(target: &Path) -> Result<(), Error> {
    match fs::symlink_metadata(target) {
        Ok(_) => Err(exists(target)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(target, "cannot check", e)),
    }
}

fn exists(target: &Path) -> Error {
    Error::Unsupported(format!(
        "{} already exists; db backup never overwrites a file, name a new one with --to",
        target.display()
    ))
}

/// Copies `source` into the empty file at `partial` as one snapshot, then
/// checks the copy.
fn copy_into(source: &Path, partial: &Path, progress: &Progress) -> Result<Copied, Error> {
    // Read-write but never create: a missing file must not become an empty
    // database. Nothing is written through this connection.
    let src = Connection::open_with_flags(
        source,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| sql(source, e))?;
    src.busy_timeout(BUSY_PATIENCE)
        .map_err(|e| sql(source, e))?;
    // The snapshot starts with the first read of this transaction.
    src.execute_batch("BEGIN DEFERRED")
        .map_err(|e| sql(source, e))?;
    let users = count_users(&src).map_err(|e| match e {
        rusqlite::Error::SqliteFailure(_, Some(ref m)) if m.contains("no such table") => {
            Error::Unsupported(format!(
                "sqlite:{} is not a user-api database (it has no users table)",
                source.display()
            ))
        }
        e => sql(source, e),
    })?;

    let mut dst = Connection::open_with_flags(
        partial,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| sql(partial, e))?;
    // The partial file counts for nothing until it is complete; it is
    // flushed once, as a whole, before it gets its name.
    dst.pragma_update(None, "synchronous", "OFF")
        .map_err(|e| sql(partial, e))?;
    {
        let backup = Backup::new(&src, &mut dst).map_err(|e| sql(partial, e))?;
        let mut busy_since: Option<Instant> = None;
        loop {
            let step = backup.step(PAGES_PER_STEP).map_err(|e| sql(source, e))?;
            let pages = backup.progress();
            progress.at(
                "backing up",
                "pages",
                (pages.pagecount - pages.remaining).max(0) as u64,
                pages.pagecount.max(0) as u64,
            );
            match step {
                StepResult::Done => break,
                StepResult::More => busy_since = None,
                StepResult::Busy | StepResult::Locked => {
                    let since = *busy_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > BUSY_PATIENCE {
                        return Err(Error::Unavailable(format!(
                            "sqlite:{} stayed locked for {BUSY_PATIENCE:?}",
                            source.display()
                        )));
                    }
                }
                _ => {}
            }
            thread::sleep(PAUSE);
        }
    }
    drop(dst);
    src.execute_batch("COMMIT").map_err(|e| sql(source, e))?;
    drop(src);

    let copied = verify(partial)?;
    if copied.users != users {
        return Err(Error::Internal(format!(
            "the copy holds {} users, the snapshot it was taken from {users}",
            copied.users
        )));
    }
    Ok(copied)
}

fn count_users(conn: &Connection) -> rusqlite::Result<u64> {
    conn.query_row("SELECT count(*) FROM users", [], |r| r.get(0))
}

/// `PRAGMA integrity_check` and the number of users, read from the copy.
fn verify(partial: &Path) -> Result<Copied, Error> {
    let conn = Connection::open_with_flags(
        partial,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| sql(partial, e))?;
    let problems: Vec<String> = conn
        .prepare("PRAGMA integrity_check")
        .and_then(|mut stmt| {
            stmt.query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()
        })
        .map_err(|e| sql(partial, e))?;
    if problems != ["ok"] {
        return Err(Error::Internal(format!(
            "the copy fails PRAGMA integrity_check: {}",
            problems.join("; ")
        )));
    }
    let users = count_users(&conn).map_err(|e| sql(partial, e))?;
    // Closing the last connection folds any WAL back into the file and
    // removes the -wal and -shm files.
    conn.close().map_err(|(_, e)| sql(partial, e))?;
    Ok(Copied { users })
}

/// Flushes the copy, gives it the target's name unless that name was taken
/// meanwhile, and flushes the directory; returns the size in bytes.
fn publish(partial: Partial, target: &Path) -> Result<u64, Error> {
    let file = File::open(&partial.path).map_err(|e| io(&partial.path, "cannot open", e))?;
    file.sync_all()
        .map_err(|e| io(&partial.path, "cannot flush", e))?;
    let bytes = file
        .metadata()
        .map_err(|e| io(&partial.path, "cannot read", e))?
        .len();
    drop(file);
    // A hard link fails if the name exists, where a rename would replace it.
    match fs::hard_link(&partial.path, target) {
        Ok(()) => {
            // The copy is complete under its name; a leftover second name
            // is untidy, not wrong.
            if let Err(e) = fs::remove_file(&partial.path) {
                tracing::warn!(path = %partial.path.display(), error = %e, "cannot remove the partial name");
            }
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => return Err(exists(target)),
        // A file system without hard links: check, then rename.
        Err(_) => {
            refuse_existing(target)?;
            fs::rename(&partial.path, target).map_err(|e| io(target, "cannot create", e))?;
        }
    }
    partial.keep();
    let dir = File::open(parent(target)).map_err(|e| io(parent(target), "cannot open", e))?;
    dir.sync_all()
        .map_err(|e| io(parent(target), "cannot flush", e))?;
    Ok(bytes)
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// The copy in progress, removed (with any SQLite side files) unless kept.
struct Partial {
    path: PathBuf,
    keep: bool,
}

impl Partial {
    fn create(target: &Path) -> Result<Self, Error> {
        let name = target.file_name().ok_or_else(|| {
            Error::Unsupported(format!("{} is not a file name", target.display()))
        })?;
        let mut partial_name = name.to_owned();
        partial_name.push(format!(".partial-{}", std::process::id()));
        let path = parent(target).join(partial_name);
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| io(&path, "cannot create", e))?;
        Ok(Self { path, keep: false })
    }

    fn keep(mut self) {
        self.keep = true;
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        let _ = fs::remove_file(&self.path);
        for suffix in ["-journal", "-wal", "-shm"] {
            let mut side = self.path.clone().into_os_string();
            side.push(suffix);
            let _ = fs::remove_file(side);
        }
    }
}

fn sql(path: &Path, e: rusqlite::Error) -> Error {
    Error::Internal(format!("{}: {e}", path.display()))
}

fn io(path: &Path, what: &str, e: std::io::Error) -> Error {
    Error::Internal(format!("{what} {}: {e}", path.display()))
}
