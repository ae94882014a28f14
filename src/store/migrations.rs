//! The schema migrations, embedded in the binary and numbered; each backend
//! applies its dialect's list in order at start and on `user-api migrate`.
//! A released migration is never edited. Only data here: each backend's
//! runner lives in the backend (`sqlite::migrate`, `postgres::migrate`).
//! A migration whose data change is a rule written in Rust (4: canonical
//! emails, `store::canonical`) has that step run by the runner after its
//! SQL, in the same transaction; so does 8's on SQLite (the search index
//! filled in batches, with progress lines).

use super::Error;

/// `(version, sql)`, in order.
pub(super) const SQLITE: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/sqlite/0001_users.sql")),
    (
        2,
        include_str!("../../migrations/sqlite/0002_throttle_and_idempotency.sql"),
    ),
    (3, include_str!("../../migrations/sqlite/0003_events.sql")),
    (
        4,
        include_str!("../../migrations/sqlite/0004_canonical_email.sql"),
    ),
    (
        5,
        include_str!("../../migrations/sqlite/0005_idempotency_without_password.sql"),
    ),
    (
        6,
        include_str!("../../migrations/sqlite/0006_signup_allowances.sql"),
    ),
    (7, include_str!("../../migrations/sqlite/0007_mail.sql")),
    (
        8,
        include_str!("../../migrations/sqlite/0008_search_and_counts.sql"),
    ),
];

/// The same migrations in PostgreSQL's dialect: one file per dialect, the
/// same numbers, the same meaning.
pub(super) const POSTGRES: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/postgres/0001_users.sql")),
    (
        2,
        include_str!("../../migrations/postgres/0002_throttle_and_idempotency.sql"),
    ),
    (3, include_str!("../../migrations/postgres/0003_events.sql")),
    (
        4,
        include_str!("../../migrations/postgres/0004_canonical_email.sql"),
    ),
    (
        5,
        include_str!("../../migrations/postgres/0005_idempotency_without_password.sql"),
    ),
    (
        6,
        include_str!("../../migrations/postgres/0006_signup_allowances.sql"),
    ),
    (7, include_str!("../../migrations/postgres/0007_mail.sql")),
    (
        8,
        include_str!("../../migrations/postgres/0008_search_and_counts.sql"),
    ),
];

/// Migration 8 builds the search index and the counters over every user
/// there is: on a big store it delays the start (measured in
/// `bench/results/million.md`), so the runners log its progress.
pub(super) const SEARCH_AND_COUNTS: i64 = 8;

pub const LATEST_VERSION: i64 = SQLITE.len() as i64;
const _: () = assert!(POSTGRES.len() == SQLITE.len(), "one migration per dialect");

/// A database written by a newer binary is refused: its schema could mean
/// something this one does not know.
pub(super) fn refuse_newer(found: i64) -> Result<(), Error> {
    if found > LATEST_VERSION {
        return Err(Error::NewerSchema {
            found,
            known: LATEST_VERSION,
        });
    }
    Ok(())
}
