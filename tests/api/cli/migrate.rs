//! `user-api migrate`: creates the schema, may run twice, and refuses a
//! database from a newer schema version.

use super::{run_to_exit, set_schema_version, sqlite_url};

#[test]
fn migrate_creates_the_schema_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    let exit = run_to_exit(
        &["migrate", "--database-url", &sqlite_url(&db)],
        &[],
        dir.path(),
        None,
    );
    assert!(exit.status.success(), "{exit:?}");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert!(version >= 1, "schema version {version}");
    let users: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'users'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(users, 1, "a users table");
}

#[test]
fn migrate_twice_exits_0_both_times() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir.path().join("m.db"));
    let first = run_to_exit(&["migrate", "--database-url", &url], &[], dir.path(), None);
    let second = run_to_exit(&["migrate", "--database-url", &url], &[], dir.path(), None);
    assert!(first.status.success(), "{first:?}");
    assert!(second.status.success(), "{second:?}");
}

#[test]
fn migrate_refuses_a_database_from_a_newer_schema_version() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    let url = sqlite_url(&db);
    let first = run_to_exit(&["migrate", "--database-url", &url], &[], dir.path(), None);
    assert!(first.status.success(), "{first:?}");
    set_schema_version(&db, 999);
    let exit = run_to_exit(&["migrate", "--database-url", &url], &[], dir.path(), None);
    assert!(exit.failed(), "{exit:?}");
    assert_eq!(exit.stderr_lines().len(), 1, "{exit:?}");
    assert!(exit.stderr.contains("999"), "{exit:?}");
}

/// The idempotency migration forgets fingerprints written by an older
/// version, which hashed a body holding the password.
#[test]
fn migrating_forgets_idempotency_fingerprints_of_an_older_version() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    let url = sqlite_url(&db);
    let first = run_to_exit(&["migrate", "--database-url", &url], &[], dir.path(), None);
    assert!(first.status.success(), "{first:?}");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute(
        "INSERT INTO idempotency_keys (client, key, fingerprint, created_at)
         VALUES ('127.0.0.1', 'k-1', zeroblob(32), 0)",
        [],
    )
    .unwrap();
    drop(conn);
    // As the database was before the idempotency migration (version 4,
    // migrations/sqlite/0005_idempotency_without_password.sql); later ones
    // run after it.
    let latest = user_api::store::LATEST_VERSION;
    set_schema_version(&db, 3);

    let second = run_to_exit(&["migrate", "--database-url", &url], &[], dir.path(), None);

    assert!(second.status.success(), "{second:?}");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let (keys, version): (i64, i64) = conn
        .query_row(
            "SELECT (SELECT count(*) FROM idempotency_keys), (SELECT user_version FROM pragma_user_version)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((keys, version), (0, latest));
}
