//! `user-api db copy --from sqlite:… --to postgres://…` ("move a whole
//! store between backends"): users, password hashes, tokens and counts
//! arrive whole and verified, the service on the copy lets everyone in as
//! before, and a store that holds data is not overwritten unless told.

use reqwest::StatusCode;
use serde_json::Value;

use crate::cli::{client, run_to_exit, serve, sign_in, sign_up, Finished};
use crate::support::TestDb;

const PASSWORD: &str = "tangerine submarine 1947";

fn copy(from: &str, to: &str, extra: &[&str], cwd: &std::path::Path) -> Finished {
    let mut args = vec!["db", "copy", "--from", from, "--to", to];
    args.extend_from_slice(extra);
    run_to_exit(&args, &[], cwd, None)
}

fn token_of(response: reqwest::blocking::Response) -> String {
    assert_eq!(response.status(), StatusCode::OK);
    response.json::<Value>().unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn a_whole_sqlite_store_moves_to_postgresql_verified_and_keeps_working() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite:{}", dir.path().join("user-api.db").display());
    let source = serve(&dir, &["--signup-rate", "0"], &[]);
    for n in 0..20 {
        let created = sign_up(&source, &format!("user{n}@example.com"), PASSWORD);
        assert_eq!(created.status(), StatusCode::CREATED);
    }
    // The highest id is deleted: the copy must never hand it out again.
    let last = sign_up(&source, "last@example.com", PASSWORD);
    let last_id = last.json::<Value>().unwrap()["id"].as_i64().unwrap();
    let last_token = token_of(sign_in(&source, "last@example.com", PASSWORD));
    let deleted = client()
        .delete(source.url(&format!("/users/{last_id}")))
        .bearer_auth(&last_token)
        .send()
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let token = token_of(sign_in(&source, "user3@example.com", PASSWORD));
    // A failure count travels too.
    for _ in 0..5 {
        assert_eq!(
            sign_in(&source, "user7@example.com", "not the password at all").status(),
            StatusCode::BAD_REQUEST
        );
    }
    drop(source);

    let target = TestDb::fresh_postgres();
    let copied = copy(&sqlite, &target.url, &[], dir.path());
    assert!(copied.status.success(), "{copied:?}");
    assert!(copied.stdout.contains("20 users"), "{}", copied.stdout);
    assert!(
        copied.stdout.contains("verified (sha256 "),
        "{}",
        copied.stdout
    );
    assert_eq!(target.query_i64("SELECT count(*) FROM users"), 20);

    let moved = serve(
        &dir,
        &["--database-url", &target.url, "--signup-rate", "0"],
        &[],
    );
    let me = client()
        .get(moved.url("/users/me"))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(
        me.status(),
        StatusCode::OK,
        "a token issued before the move"
    );
    assert_eq!(me.json::<Value>().unwrap()["email"], "user3@example.com");
    assert_eq!(
        sign_in(&moved, "user11@example.com", PASSWORD).status(),
        StatusCode::OK,
        "the password hash moved"
    );
    assert_eq!(
        sign_in(&moved, "user7@example.com", PASSWORD).status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the account's wait moved"
    );
    let next = sign_up(&moved, "next@example.com", PASSWORD);
    assert_eq!(next.status(), StatusCode::CREATED);
    assert!(next.json::<Value>().unwrap()["id"].as_i64().unwrap() > last_id);
    drop(moved);

    // Back again, into a new SQLite file: the same content, verified.
    let back = format!("sqlite:{}", dir.path().join("back.db").display());
    let returned = copy(&target.url, &back, &[], dir.path());
    assert!(returned.status.success(), "{returned:?}");
    assert!(returned.stdout.contains("21 users"), "{}", returned.stdout);
}

#[test]
fn a_target_that_holds_data_is_refused_unless_overwrite_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite:{}", dir.path().join("user-api.db").display());
    let source = serve(&dir, &[], &[]);
    assert_eq!(
        sign_up(&source, "ada@example.com", PASSWORD).status(),
        StatusCode::CREATED
    );
    drop(source);
    let target = TestDb::fresh_postgres();
    assert!(copy(&sqlite, &target.url, &[], dir.path()).status.success());
    target.execute(
        "INSERT INTO users (email, name, name_lower, role, password_hash, created_at, updated_at)
         VALUES ('only-in-target@example.com', 'T', 't', 'user', 'x', 0, 0)",
    );

    let refused = copy(&sqlite, &target.url, &[], dir.path());
    assert!(refused.failed(), "{refused:?}");
    assert_eq!(refused.stderr_lines().len(), 1, "{refused:?}");
    assert!(refused.stderr.contains("--overwrite"), "{refused:?}");
    assert_eq!(
        target.query_i64("SELECT count(*) FROM users"),
        2,
        "untouched"
    );

    let replaced = copy(&sqlite, &target.url, &["--overwrite"], dir.path());
    assert!(replaced.status.success(), "{replaced:?}");
    assert_eq!(
        target.query_text("SELECT string_agg(email, ',') FROM users"),
        "ada@example.com"
    );
}

#[test]
fn a_missing_source_file_is_refused_and_nothing_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.db");
    let target = TestDb::fresh_postgres();
    let refused = copy(
        &format!("sqlite:{}", missing.display()),
        &target.url,
        &[],
        dir.path(),
    );
    assert!(refused.failed(), "{refused:?}");
    assert!(refused.stderr.contains("does not exist"), "{refused:?}");
    assert!(!missing.exists());
}
