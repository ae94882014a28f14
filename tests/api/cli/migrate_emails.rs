//! Migration 4 re-canonicalises emails stored under the older rule (Unicode
//! lower-casing) on both backends (`API.md`, "The user resource"): when two
//! accounts would collide, `migrate` and `serve` stop before changing
//! anything and name both; otherwise every stored email takes its canonical
//! form and its owner signs in with any spelling of it.
//!
//! The version-3 database is made as a version-3 binary made it: the
//! released migration files 1 to 3, then rows inserted as that binary
//! stored them.

use argon2::password_hash::{PasswordHasher, SaltString};
use reqwest::StatusCode;

use crate::cli::{run_to_exit, sign_in, spawn_binary, CHEAP_HASHING};
use crate::support::{backend, Backend, TestDb};

const PASSWORD: &str = "tangerine submarine 1947";

/// A database at schema version 3 holding `users` as `(id, email, name)`.
fn version_3_with(users: &[(i64, &str, &str)]) -> TestDb {
    let db = TestDb::fresh();
    let scripts = match backend() {
        Backend::Sqlite => [
            include_str!("../../../migrations/sqlite/0001_users.sql"),
            include_str!("../../../migrations/sqlite/0002_throttle_and_idempotency.sql"),
            include_str!("../../../migrations/sqlite/0003_events.sql"),
            "PRAGMA user_version = 3;",
        ],
        Backend::Postgres => [
            include_str!("../../../migrations/postgres/0001_users.sql"),
            include_str!("../../../migrations/postgres/0002_throttle_and_idempotency.sql"),
            include_str!("../../../migrations/postgres/0003_events.sql"),
            "CREATE TABLE user_api_schema (version BIGINT NOT NULL);
             INSERT INTO user_api_schema (version) VALUES (3);",
        ],
    };
    for script in scripts {
        db.execute_script(script);
    }
    let hash = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(1024, 1, 1, None).unwrap(),
    )
    .hash_password(
        PASSWORD.as_bytes(),
        &SaltString::from_b64("c29tZXNhbHRzb21lc2FsdA").unwrap(),
    )
    .unwrap()
    .to_string();
    for (id, email, name) in users {
        // What the version-3 binary stored: the email and the name
        // lower-cased by Rust's `to_lowercase`.
        db.execute(&format!(
            "INSERT INTO users (id, email, name, name_lower, role, password_hash, created_at, updated_at)
             VALUES ({id}, '{}', '{name}', '{}', 'user', '{hash}', 1764979200, 1764979200)",
            email.to_lowercase(),
            name.to_lowercase(),
        ));
    }
    db
}

fn schema_version(db: &TestDb) -> i64 {
    match backend() {
        Backend::Sqlite => db.query_i64("PRAGMA user_version"),
        Backend::Postgres => db.query_i64("SELECT version FROM user_api_schema"),
    }
}

fn email_of(db: &TestDb, id: i64) -> String {
    db.query_text(&format!("SELECT email FROM users WHERE id = {id}"))
}

fn migrate(db: &TestDb) -> crate::cli::Finished {
    let dir = tempfile::tempdir().unwrap();
    run_to_exit(
        &["migrate", "--database-url", &db.url],
        &[],
        dir.path(),
        None,
    )
}

#[test]
fn migrate_with_two_accounts_one_under_the_canonical_form_exits_non_zero_naming_both_and_changes_nothing(
) {
    // The old rule kept these two apart (`ΑΣ@…` signed up as `ας@…`);
    // folded, they are one.
    let db = version_3_with(&[
        (1, "ＡＢ@example.com", "Ab"),
        (2, "ασ@x.example", "Sigma"),
        (3, "ας@x.example", "Final sigma"),
    ]);

    let exit = migrate(&db);

    assert!(exit.failed(), "{exit:?}");
    let lines = exit.stderr_lines();
    assert_eq!(lines.len(), 1, "{exit:?}");
    for part in ["id 2", "ασ@x.example", "id 3", "ας@x.example"] {
        assert!(lines[0].contains(part), "{part} in {lines:?}");
    }
    assert_eq!(schema_version(&db), 3, "the schema version is unchanged");
    assert_eq!(email_of(&db, 1), "ａｂ@example.com", "no row was rewritten");
    assert_eq!(email_of(&db, 2), "ασ@x.example");
    assert_eq!(email_of(&db, 3), "ας@x.example");
}

#[test]
fn serve_with_two_accounts_one_under_the_canonical_form_exits_non_zero_naming_both() {
    let db = version_3_with(&[(2, "ασ@x.example", "Sigma"), (3, "ας@x.example", "Final")]);
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec![
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--database-url",
        &db.url,
    ];
    args.extend(CHEAP_HASHING);

    let exit = run_to_exit(&args, &[], dir.path(), None);

    assert!(exit.failed(), "{exit:?}");
    assert_eq!(exit.stderr_lines().len(), 1, "{exit:?}");
    assert!(
        exit.stderr.contains("id 2") && exit.stderr.contains("id 3"),
        "{exit:?}"
    );
    assert_eq!(schema_version(&db), 3);
}

#[test]
fn migrate_rewrites_stored_emails_to_their_canonical_form_and_their_owners_sign_in() {
    let db = version_3_with(&[
        (1, "ＡＢ@example.com", "Ab"),
        (2, "ΑΣ@xn--bcher-kva.example", "ΚΏΣΤΑΣ"),
        (3, "ada@localhost", "Ada"),
    ]);
    db.execute("INSERT INTO signin_failures (key, failures, window_start) VALUES ('account:ａｂ@example.com', 3, 1764979200)");

    let exit = migrate(&db);

    assert!(exit.status.success(), "{exit:?}");
    assert!(schema_version(&db) >= 4);
    assert_eq!(email_of(&db, 1), "ab@example.com");
    assert_eq!(email_of(&db, 2), "ασ@bücher.example");
    // Valid when stored, refused by today's rules: kept, so its owner still
    // signs in.
    assert_eq!(email_of(&db, 3), "ada@localhost");
    assert_eq!(
        db.query_text("SELECT name_lower FROM users WHERE id = 2"),
        "κώστασ"
    );
    assert_eq!(
        db.query_i64("SELECT count(*) FROM signin_failures WHERE key LIKE 'account:%'"),
        0,
        "the throttle row under the old form is gone"
    );

    let dir = tempfile::tempdir().unwrap();
    let mut args = vec![
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--database-url",
        &db.url,
    ];
    args.extend(CHEAP_HASHING);
    let app = spawn_binary(&args, &[], dir.path());
    for username in [
        "ＡＢ@example.com",
        "ab@example.com",
        "ας@BÜCHER.example",
        "ada@localhost",
    ] {
        assert_eq!(
            sign_in(&app, username, PASSWORD).status(),
            StatusCode::OK,
            "{username}"
        );
    }
}
