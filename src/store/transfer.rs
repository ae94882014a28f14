//! What `users import` and `users export` hand to and get from a store.
//! The backends only run the SQL (`sqlite/transfer.rs`,
//! `postgres/transfer.rs`); reading files is `crate::transfer`'s.
//!
//! An import is one transaction fed in batches through a bounded channel,
//! so a file of any size is written in constant memory and a stop at any
//! line (bad record, email already registered) rolls back everything.

use super::PasswordHash;
use crate::domain::{Email, Role, UserName};

/// Records per batch: big enough that PostgreSQL's round trips vanish
/// (one `INSERT … SELECT unnest(…)` each), small enough to keep little in
/// memory.
pub const BATCH: usize = 1000;

/// Batches in flight between the reader and the writer.
pub const BATCHES_IN_FLIGHT: usize = 4;

/// A user to import, already checked (email, name, hash kind and cost).
#[derive(Debug, Clone)]
pub struct ImportRow {
    /// Where it came from: the file's line, or the record's position in a
    /// JSON array.
    pub line: u64,
    pub email: Email,
    pub name: UserName,
    pub role: Role,
    pub is_active: bool,
    pub email_verified: bool,
    /// `auth::imported::NO_PASSWORD` for a user without one.
    pub password_hash: PasswordHash,
    /// Unix seconds; `None`: the time of the import.
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
}

/// What an email that is already registered does to an import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnConflict {
    /// Leave the registered user as it is and go on.
    Skip,
    /// Stop: nothing is imported.
    Fail,
}

/// Why an import stopped, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportStop {
    pub line: u64,
    pub reason: String,
}

impl std::fmt::Display for ImportStop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// The reader's side of an import: batches, or the stop it ran into.
pub type ImportFeed = tokio::sync::mpsc::Receiver<Result<Vec<ImportRow>, ImportStop>>;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportTally {
    pub imported: u64,
    pub skipped: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportOutcome {
    /// Committed (or, on a dry run, checked and rolled back).
    Done(ImportTally),
    /// Rolled back: nothing was written.
    Stopped(ImportStop),
}

/// A stored user as `users export` writes it.
#[derive(Debug, Clone)]
pub struct ExportRow {
    pub email: String,
    pub name: String,
    pub role: String,
    pub is_active: bool,
    pub email_verified: bool,
    pub password_hash: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The stop for a registered email under `--on-conflict fail`.
pub(crate) fn already_registered(line: u64) -> ImportStop {
    ImportStop {
        line,
        reason: "email already registered (use --on-conflict skip to leave it)".into(),
    }
}
