//! Starting on PostgreSQL: from the environment variable as from the flag,
//! and the contract's one-line reason (without the password) when the
//! database cannot be reached or is from a newer version.

use reqwest::StatusCode;

use crate::cli::{client, run_to_exit, sign_up, spawn_binary, CHEAP_HASHING};
use crate::support::TestDb;

#[test]
fn serve_takes_its_postgres_url_from_user_api_database_url() {
    let db = TestDb::fresh_postgres();
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["serve"];
    args.extend(CHEAP_HASHING);
    let app = spawn_binary(
        &args,
        &[
            ("USER_API_LISTEN", "127.0.0.1:0"),
            ("USER_API_DATABASE_URL", &db.url),
        ],
        dir.path(),
    );
    assert_eq!(
        sign_up(&app, "ada@example.com", "tangerine submarine 1947").status(),
        StatusCode::CREATED
    );
    let ready = client().get(app.url("/health/ready")).send().unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(
        db.query_i64("SELECT count(*) FROM users"),
        1,
        "the user is in PostgreSQL"
    );
    assert!(!dir.path().join("user-api.db").exists(), "no SQLite file");
}

#[test]
fn serve_with_an_unreachable_postgres_exits_non_zero_with_one_line_that_hides_the_password() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on port 1.
    let url = "postgres://ada:hunter2-secret@127.0.0.1:1/user_api";
    let exit = run_to_exit(
        &["serve", "--listen", "127.0.0.1:0", "--database-url", url],
        &[],
        dir.path(),
        None,
    );
    assert!(exit.failed(), "{exit:?}");
    let lines = exit.stderr_lines();
    assert_eq!(lines.len(), 1, "{exit:?}");
    assert!(
        lines[0].contains("postgres://ada:***@127.0.0.1:1/user_api"),
        "{exit:?}"
    );
    assert!(!exit.stderr.contains("hunter2") && !exit.stdout.contains("hunter2"));
}

#[test]
fn serve_on_a_postgres_schema_from_a_newer_version_exits_non_zero_with_a_one_line_reason() {
    let db = TestDb::fresh_postgres();
    let dir = tempfile::tempdir().unwrap();
    let migrated = run_to_exit(
        &["migrate", "--database-url", &db.url],
        &[],
        dir.path(),
        None,
    );
    assert!(migrated.status.success(), "{migrated:?}");
    db.execute("UPDATE user_api_schema SET version = 999");
    let exit = run_to_exit(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            &db.url,
        ],
        &[],
        dir.path(),
        None,
    );
    assert!(exit.failed(), "{exit:?}");
    assert_eq!(exit.stderr_lines().len(), 1, "{exit:?}");
    assert!(exit.stderr.contains("999"), "{exit:?}");
}
