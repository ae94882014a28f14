//! `user-api serve` starting up: without `--database-url` it keeps its data
//! in `user-api.db` in the working directory, and it prints one line saying
//! where it listens; when it cannot start (a taken port, a bad flag value, a
//! database it cannot use) it exits non-zero with a one-line reason, never a
//! panic.

use std::net::TcpListener;

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{client, run_serve_to_exit, run_to_exit, set_schema_version, spawn_binary, sqlite_url};

#[test]
fn serve_without_a_database_flag_keeps_its_data_in_user_api_db_in_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_binary(&["serve", "--listen", "127.0.0.1:0"], &[], dir.path());
    let health = client().get(app.url("/health")).send().unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(
        health.json::<Value>().unwrap(),
        json!({"status": "healthy"})
    );
    assert!(dir.path().join("user-api.db").is_file());
}

#[test]
fn serve_prints_exactly_one_line_saying_where_it_listens() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = spawn_binary(&["serve", "--listen", "127.0.0.1:0"], &[], dir.path());
    let health = client().get(app.url("/health")).send().unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    app.signal("TERM");
    app.wait_for_exit();
    assert_eq!(
        app.stdout_lines(),
        vec![format!("user-api listening on http://{}", app.addr)]
    );
}

#[test]
fn serve_on_a_taken_port_exits_non_zero_with_a_one_line_reason() {
    let dir = tempfile::tempdir().unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().to_string();
    let exit = run_serve_to_exit(&dir, &["--listen", &port]);
    assert!(exit.failed(), "{exit:?}");
    assert_eq!(exit.stderr_lines().len(), 1, "{exit:?}");
    assert!(exit.stderr.contains(&port), "{exit:?}");
    assert!(!exit.stderr.contains("panicked"), "{exit:?}");
}

#[test]
fn serve_with_listen_nowhere_exits_non_zero_with_a_one_line_reason() {
    let dir = tempfile::tempdir().unwrap();
    let exit = run_serve_to_exit(&dir, &["--listen", "nowhere"]);
    assert!(exit.failed(), "{exit:?}");
    assert_eq!(exit.stderr_lines().len(), 1, "{exit:?}");
    assert!(exit.stderr.contains("--listen"), "{exit:?}");
    assert!(!exit.stderr.contains("panicked"), "{exit:?}");
}

#[test]
fn serve_with_password_min_length_7_exits_non_zero_with_a_one_line_reason() {
    let dir = tempfile::tempdir().unwrap();
    let exit = run_serve_to_exit(&dir, &["--password-min-length", "7"]);
    assert!(exit.failed(), "{exit:?}");
    assert_eq!(exit.stderr_lines().len(), 1, "{exit:?}");
    assert!(exit.stderr.contains("--password-min-length"), "{exit:?}");
    assert!(!exit.stderr.contains("panicked"), "{exit:?}");
}

#[test]
fn serve_with_token_ttl_soon_exits_non_zero_with_a_one_line_reason() {
    let dir = tempfile::tempdir().unwrap();
    let exit = run_serve_to_exit(&dir, &["--token-ttl", "soon"]);
    assert!(exit.failed(), "{exit:?}");
    assert_eq!(exit.stderr_lines().len(), 1, "{exit:?}");
    assert!(exit.stderr.contains("--token-ttl"), "{exit:?}");
    assert!(!exit.stderr.contains("panicked"), "{exit:?}");
}

#[test]
fn serve_with_a_mysql_database_url_exits_non_zero_with_a_one_line_reason() {
    let dir = tempfile::tempdir().unwrap();
    let exit = run_serve_to_exit(&dir, &["--database-url", "mysql://x"]);
    assert!(exit.failed(), "{exit:?}");
    assert_eq!(exit.stderr_lines().len(), 1, "{exit:?}");
    assert!(exit.stderr.contains("--database-url"), "{exit:?}");
    assert!(!exit.stderr.contains("panicked"), "{exit:?}");
}

#[test]
fn serve_on_a_file_that_is_not_sqlite_exits_non_zero_with_a_one_line_reason() {
    let dir = tempfile::tempdir().unwrap();
    let garbage: Vec<u8> = (0..8192u32).map(|i| (i * 7919 % 251) as u8).collect();
    std::fs::write(dir.path().join("user-api.db"), garbage).unwrap();
    let exit = run_serve_to_exit(&dir, &[]);
    assert!(exit.failed(), "{exit:?}");
    assert_eq!(exit.stderr_lines().len(), 1, "{exit:?}");
    assert!(exit.stderr.contains("user-api.db"), "{exit:?}");
    assert!(!exit.stderr.contains("panicked"), "{exit:?}");
}

#[test]
fn serve_on_a_database_from_a_newer_schema_version_exits_non_zero_with_a_one_line_reason() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("user-api.db");
    let migrated = run_to_exit(
        &["migrate", "--database-url", &sqlite_url(&db)],
        &[],
        dir.path(),
        None,
    );
    assert!(migrated.status.success(), "{migrated:?}");
    set_schema_version(&db, 999);
    let exit = run_serve_to_exit(&dir, &[]);
    assert!(exit.failed(), "{exit:?}");
    assert_eq!(exit.stderr_lines().len(), 1, "{exit:?}");
    assert!(exit.stderr.contains("999"), "{exit:?}");
    assert!(!exit.stderr.contains("panicked"), "{exit:?}");
}

#[test]
fn serve_on_a_database_that_cannot_use_wal_exits_non_zero_with_a_one_line_reason() {
    // `:memory:` is SQLite's in-memory database: its journal can never be
    // WAL, and nothing in it would survive a restart. Unlike a read-only
    // file, this holds for root too.
    let dir = tempfile::tempdir().unwrap();
    let exit = run_serve_to_exit(&dir, &["--database-url", "sqlite::memory:"]);
    assert!(exit.failed(), "{exit:?}");
    assert_eq!(exit.stderr_lines().len(), 1, "{exit:?}");
    assert!(exit.stderr.contains(":memory:"), "{exit:?}");
    assert!(exit.stderr.contains("WAL"), "{exit:?}");
    assert!(!exit.stderr.contains("panicked"), "{exit:?}");
}

/// `serve` on `dir/user-api.db`, port 0, with `flags` and nothing else:
/// no cheap hashing, no `--test-weak-argon2`.
fn unweakened_serve_args(dir: &tempfile::TempDir, flags: &[&str]) -> Vec<String> {
    let url = sqlite_url(&dir.path().join("user-api.db"));
    let mut args: Vec<String> = ["serve", "--listen", "127.0.0.1:0", "--database-url", &url]
        .map(str::to_owned)
        .to_vec();
    args.extend(flags.iter().map(|f| (*f).to_owned()));
    args
}

#[test]
fn serve_with_argon2_memory_below_owasps_weakest_row_exits_with_a_one_line_reason() {
    let dir = tempfile::tempdir().unwrap();
    let flags = ["--argon2-memory-kib", "7167", "--argon2-iterations", "10"];
    let exit = run_to_exit(&unweakened_serve_args(&dir, &flags), &[], dir.path(), None);
    assert!(exit.failed(), "{exit:?}");
    assert_eq!(exit.stderr_lines().len(), 1, "{exit:?}");
    assert!(exit.stderr.contains("--argon2-memory-kib 7167"), "{exit:?}");
    assert!(exit.stderr.contains("OWASP"), "{exit:?}");
    assert!(!exit.stderr.contains("panicked"), "{exit:?}");
    assert!(!dir.path().join("user-api.db").exists(), "nothing touched");
}

#[test]
fn serve_with_argon2_memory_times_iterations_below_owasps_weakest_row_exits_with_a_one_line_reason()
{
    let dir = tempfile::tempdir().unwrap();
    // 8192 KiB × 4 = 32,768 < 35,840; the environment counts as flags do.
    let env = [
        ("USER_API_ARGON2_MEMORY_KIB", "8192"),
        ("USER_API_ARGON2_ITERATIONS", "4"),
    ];
    let exit = run_to_exit(&unweakened_serve_args(&dir, &[]), &env, dir.path(), None);
    assert!(exit.failed(), "{exit:?}");
    assert_eq!(exit.stderr_lines().len(), 1, "{exit:?}");
    assert!(exit.stderr.contains("--argon2-iterations 4"), "{exit:?}");
    assert!(!dir.path().join("user-api.db").exists(), "nothing touched");
}

#[test]
fn serve_with_owasps_weakest_row_starts() {
    let dir = tempfile::tempdir().unwrap();
    let flags = ["--argon2-memory-kib", "7168", "--argon2-iterations", "5"];
    let app = spawn_binary(&unweakened_serve_args(&dir, &flags), &[], dir.path());
    let health = client().get(app.url("/health")).send().unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}
