//! The command line (`API.md`, "Command line", "Limits and behaviour under
//! load", "Storage"), tested on the real `user-api` binary started as a child
//! process in its own temporary directory: flags and their environment
//! variables, startup failures, signals and `kill -9` can only be seen there.
//!
//! Longer than most files: it holds the child-process harness (at the
//! bottom) that only these tests need, and `support/` belongs to the
//! in-process suite.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, Response};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::support::{binary, PASSWORD};

/// Cheap argon2 parameters for tests that are not about hashing cost.
const CHEAP_HASHING: [&str; 4] = ["--argon2-memory-kib", "1024", "--argon2-iterations", "1"];

/// How long a child may take to start, answer or exit before the test fails.
const PATIENCE: Duration = Duration::from_secs(30);

/// How often a bounded wait looks again.
const POLL: Duration = Duration::from_millis(10);

/// Every flag of the contract's table, with the environment variable that
/// must stand for it.
const FLAGS: [(&str, &str); 17] = [
    ("--listen", "USER_API_LISTEN"),
    ("--database-url", "USER_API_DATABASE_URL"),
    ("--metrics-addr", "USER_API_METRICS_ADDR"),
    ("--cors-origins", "USER_API_CORS_ORIGINS"),
    ("--signup", "USER_API_SIGNUP"),
    ("--password-min-length", "USER_API_PASSWORD_MIN_LENGTH"),
    ("--token-ttl", "USER_API_TOKEN_TTL"),
    ("--trusted-proxies", "USER_API_TRUSTED_PROXIES"),
    ("--log-format", "USER_API_LOG_FORMAT"),
    ("--signup-rate", "USER_API_SIGNUP_RATE"),
    ("--request-timeout", "USER_API_REQUEST_TIMEOUT"),
    ("--hash-concurrency", "USER_API_HASH_CONCURRENCY"),
    ("--argon2-memory-kib", "USER_API_ARGON2_MEMORY_KIB"),
    ("--argon2-iterations", "USER_API_ARGON2_ITERATIONS"),
    ("--argon2-parallelism", "USER_API_ARGON2_PARALLELISM"),
    ("--db-pool-size", "USER_API_DB_POOL_SIZE"),
    ("--shutdown-grace", "USER_API_SHUTDOWN_GRACE"),
];

// ---------------------------------------------------------------- version, help

#[test]
fn version_prints_the_package_version() {
    let dir = tempfile::tempdir().unwrap();
    let exit = run_to_exit(&["--version"], &[], dir.path(), None);
    assert!(exit.status.success(), "{exit:?}");
    assert_eq!(
        exit.stdout.trim(),
        format!("user-api {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn help_names_every_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let exit = run_to_exit(&["--help"], &[], dir.path(), None);
    assert!(exit.status.success(), "{exit:?}");
    for command in ["serve", "migrate", "admin", "openapi"] {
        assert!(
            exit.stdout
                .lines()
                .any(|l| l.trim_start().starts_with(command)),
            "`user-api --help` names `{command}`:\n{}",
            exit.stdout
        );
    }
}

#[test]
fn serve_help_explains_every_flag_and_names_its_environment_variable() {
    let dir = tempfile::tempdir().unwrap();
    let exit = run_to_exit(&["serve", "--help"], &[], dir.path(), None);
    assert!(exit.status.success(), "{exit:?}");
    for (flag, variable) in FLAGS {
        let entry = help_entry(&exit.stdout, flag)
            .unwrap_or_else(|| panic!("`serve --help` lists {flag}:\n{}", exit.stdout));
        let (explanation, after) = entry
            .split_once("[env: ")
            .unwrap_or_else(|| panic!("{flag} names an environment variable: {entry}"));
        assert!(
            after.starts_with(&format!("{variable}=")),
            "{flag} names {variable}: {entry}"
        );
        assert!(
            explanation.trim().len() > 10,
            "{flag} is explained: {entry}"
        );
    }
}

#[test]
fn migrate_and_admin_create_help_name_the_database_url_and_its_environment_variable() {
    let dir = tempfile::tempdir().unwrap();
    for command in [&["migrate", "--help"][..], &["admin", "create", "--help"]] {
        let exit = run_to_exit(command, &[], dir.path(), None);
        assert!(exit.status.success(), "{command:?}: {exit:?}");
        let entry = help_entry(&exit.stdout, "--database-url")
            .unwrap_or_else(|| panic!("{command:?} lists --database-url:\n{}", exit.stdout));
        assert!(
            entry.contains("[env: USER_API_DATABASE_URL="),
            "{command:?}: {entry}"
        );
    }
}

// ---------------------------------------------------------------- serve defaults

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

// ---------------------------------------------------------------- environment

#[test]
fn listen_and_database_url_come_from_their_environment_variables() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    let app = spawn_binary(
        &["serve"],
        &[
            ("USER_API_LISTEN", "127.0.0.1:0"),
            ("USER_API_DATABASE_URL", &sqlite_url(&db)),
        ],
        dir.path(),
    );
    assert!(app.addr.ip().is_loopback() && app.addr.port() != 0);
    let health = client().get(app.url("/health")).send().unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert!(db.is_file(), "the database is where the variable says");
    assert!(!dir.path().join("user-api.db").exists());
}

#[test]
fn signup_closed_from_its_environment_variable_answers_anonymous_sign_up_with_401() {
    let dir = tempfile::tempdir().unwrap();
    let app = serve(&dir, &[], &[("USER_API_SIGNUP", "closed")]);
    let response = sign_up(&app, "ada@example.com", PASSWORD);
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[test]
fn password_min_length_from_its_environment_variable_admits_an_8_character_password() {
    let dir = tempfile::tempdir().unwrap();
    let app = serve(&dir, &[], &[("USER_API_PASSWORD_MIN_LENGTH", "8")]);
    assert_eq!(
        sign_up(&app, "seven@example.com", "qz7!kp2").status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        sign_up(&app, "eight@example.com", "qz7!kp2w").status(),
        StatusCode::CREATED
    );
}

#[test]
fn token_ttl_from_its_environment_variable_sets_expires_in() {
    let dir = tempfile::tempdir().unwrap();
    let app = serve(&dir, &[], &[("USER_API_TOKEN_TTL", "90s")]);
    assert_eq!(
        sign_up(&app, "ada@example.com", PASSWORD).status(),
        StatusCode::CREATED
    );
    let response = sign_in(&app, "ada@example.com", PASSWORD);
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().unwrap()["expires_in"], json!(90));
}

#[test]
fn a_bad_value_in_an_environment_variable_stops_serve_with_a_one_line_reason() {
    let dir = tempfile::tempdir().unwrap();
    let exit = run_to_exit(
        &["serve", "--listen", "127.0.0.1:0"],
        &[("USER_API_PASSWORD_MIN_LENGTH", "7")],
        dir.path(),
        None,
    );
    assert!(exit.failed(), "{exit:?}");
    assert_eq!(exit.stderr_lines().len(), 1, "{exit:?}");
    assert!(exit.stderr.contains("password-min-length"), "{exit:?}");
    assert!(!exit.stderr.contains("panicked"), "{exit:?}");
}

// ---------------------------------------------------------------- startup failures

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

// ---------------------------------------------------------------- migrate

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

// ---------------------------------------------------------------- admin create

const ADMIN_PASSWORD: &str = "correct horse battery staple 42";

#[test]
fn admin_create_with_the_password_on_stdin_makes_an_admin_who_can_list_users() {
    let dir = tempfile::tempdir().unwrap();
    let created = admin_create(&dir, "Admin@Example.com", ADMIN_PASSWORD, &[]);
    assert!(created.status.success(), "{created:?}");

    let app = serve(&dir, &[], &[]);
    let response = sign_in(&app, "Admin@Example.com", ADMIN_PASSWORD);
    assert_eq!(response.status(), StatusCode::OK);
    let token = response.json::<Value>().unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let listed = client()
        .get(app.url("/users"))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(listed.status(), StatusCode::OK);
    let users: Value = listed.json().unwrap();
    assert_eq!(users.as_array().map(Vec::len), Some(1), "{users}");
    assert_eq!(users[0]["email"], "admin@example.com");
    assert_eq!(users[0]["name"], "Admin");
    assert_eq!(users[0]["role"], "admin");
}

#[test]
fn admin_create_refuses_a_too_short_password_with_a_one_line_reason() {
    let dir = tempfile::tempdir().unwrap();
    let exit = admin_create(&dir, "admin@example.com", "short but ok", &[]);
    assert!(exit.failed(), "{exit:?}");
    assert_eq!(exit.stderr_lines().len(), 1, "{exit:?}");
    assert!(exit.stderr.contains("password"), "{exit:?}");
    assert!(exit.stderr.contains("15"), "{exit:?}");
}

#[test]
fn admin_create_refuses_a_common_password_with_a_one_line_reason() {
    let dir = tempfile::tempdir().unwrap();
    let exit = admin_create(
        &dir,
        "admin@example.com",
        "12345678",
        &["--password-min-length", "8"],
    );
    assert!(exit.failed(), "{exit:?}");
    assert_eq!(exit.stderr_lines().len(), 1, "{exit:?}");
    assert!(exit.stderr.contains("common"), "{exit:?}");
}

#[test]
fn admin_create_refuses_an_email_already_registered_in_another_case() {
    let dir = tempfile::tempdir().unwrap();
    let first = admin_create(&dir, "admin@example.com", ADMIN_PASSWORD, &[]);
    assert!(first.status.success(), "{first:?}");
    let exit = admin_create(&dir, "ADMIN@Example.com", ADMIN_PASSWORD, &[]);
    assert!(exit.failed(), "{exit:?}");
    assert_eq!(exit.stderr_lines().len(), 1, "{exit:?}");
    assert!(exit.stderr.contains("already registered"), "{exit:?}");
}

// ---------------------------------------------------------------- openapi

#[test]
fn openapi_prints_an_openapi_3_1_document() {
    let dir = tempfile::tempdir().unwrap();
    let exit = run_to_exit(&["openapi"], &[], dir.path(), None);
    assert!(exit.status.success(), "{exit:?}");
    let doc: Value = serde_json::from_str(&exit.stdout).expect("stdout is one JSON document");
    let version = doc["openapi"].as_str().unwrap_or_default();
    assert!(version.starts_with("3.1."), "openapi {version:?}");
    assert!(doc["paths"]["/users"].is_object(), "documents /users");
}

// ---------------------------------------------------------------- signals

#[test]
fn sigterm_lets_a_request_in_flight_finish_with_200_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    // OWASP hashing cost, so the sign-in still has real work to do after the
    // signal.
    let mut app = spawn_binary(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--argon2-memory-kib",
            "19456",
            "--argon2-iterations",
            "2",
        ],
        &[],
        dir.path(),
    );
    assert_eq!(
        sign_up(&app, "ada@example.com", PASSWORD).status(),
        StatusCode::CREATED
    );
    let in_flight = InFlight::sign_in(&app, "ada@example.com", PASSWORD);

    app.signal("TERM");
    let (status, body) = in_flight.finish();

    assert_eq!(status, 200, "{body}");
    assert!(body.contains("access_token"), "{body}");
    assert_eq!(app.wait_for_exit().code(), Some(0));
}

#[test]
fn after_sigterm_new_connections_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = serve(&dir, &[], &[]);
    assert_eq!(
        sign_up(&app, "ada@example.com", PASSWORD).status(),
        StatusCode::CREATED
    );
    // Holds the service in its drain, so a refusal means the listener is
    // closed, not that the process is gone.
    let in_flight = InFlight::sign_in(&app, "ada@example.com", PASSWORD);

    app.signal("TERM");
    let refused = poll_until(|| {
        matches!(
            TcpStream::connect(app.addr),
            Err(e) if e.kind() == ErrorKind::ConnectionRefused
        )
    });

    assert!(refused, "connections to {} are still accepted", app.addr);
    assert!(app.is_running(), "still draining the request in flight");
    let (status, _) = in_flight.finish();
    assert_eq!(status, 200);
    assert_eq!(app.wait_for_exit().code(), Some(0));
}

#[test]
fn sigterm_as_soon_as_serve_says_it_listens_exits_0() {
    // A supervisor may stop the service the moment it announces itself; a
    // handler installed after the line loses that race now and then, so
    // try a few times.
    for round in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let mut app = serve(&dir, &[], &[]);

        app.signal("TERM");

        let status = app.wait_for_exit();
        assert_eq!(status.code(), Some(0), "round {round}: {status}");
    }
}

#[test]
fn sigint_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = serve(&dir, &[], &[]);
    let health = client().get(app.url("/health")).send().unwrap();
    assert_eq!(health.status(), StatusCode::OK);

    app.signal("INT");

    assert_eq!(app.wait_for_exit().code(), Some(0));
}

#[test]
fn on_sigterm_readiness_turns_503_for_the_grace_period_while_health_stays_200() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = serve(&dir, &["--shutdown-grace", "30s"], &[]);
    let ready = client().get(app.url("/health/ready")).send().unwrap();
    assert_eq!(ready.status(), StatusCode::OK);

    app.signal("TERM");

    let turned = poll_until(|| {
        client()
            .get(app.url("/health/ready"))
            .send()
            .is_ok_and(|r| r.status() == StatusCode::SERVICE_UNAVAILABLE)
    });
    assert!(turned, "/health/ready never answered 503 after SIGTERM");
    let health = client().get(app.url("/health")).send().unwrap();
    assert_eq!(
        health.status(),
        StatusCode::OK,
        "still serving during the grace period"
    );
    app.signal("KILL");
    app.wait_for_exit();
}

// ---------------------------------------------------------------- durability

#[test]
fn a_sign_up_answered_201_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = serve(&dir, &[], &[]);
    let created = sign_up(&first, "ada@example.com", PASSWORD);
    assert_eq!(created.status(), StatusCode::CREATED);
    first.child.kill().unwrap();
    first.wait_for_exit();

    let second = serve(&dir, &[], &[]);
    let response = sign_in(&second, "ada@example.com", PASSWORD);
    assert_eq!(response.status(), StatusCode::OK);
    let token = response.json::<Value>().unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let me = client()
        .get(second.url("/users/me"))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    assert_eq!(me.json::<Value>().unwrap()["email"], "ada@example.com");
}

// ---------------------------------------------------------------- logs

#[test]
fn json_request_log_lines_carry_method_route_status_and_latency() {
    let session = json_log_session();
    assert!(
        session.lines.iter().all(Value::is_object),
        "every stderr line is a JSON object: {:?}",
        session.raw
    );
    let requests: Vec<&Value> = session
        .lines
        .iter()
        .filter(|l| l.get("route").is_some())
        .collect();
    let sign_in_statuses: Vec<&Value> = requests
        .iter()
        .filter(|l| l["method"] == "POST" && l["route"] == "/token")
        .map(|l| &l["status"])
        .collect();
    assert_eq!(sign_in_statuses, [&json!(400), &json!(200)]);
    let signup_line = requests
        .iter()
        .find(|l| l["method"] == "POST" && l["route"] == "/users")
        .unwrap_or_else(|| panic!("POST /users is logged: {:?}", session.raw));
    assert_eq!(signup_line["status"], json!(201));
    let by_id = requests
        .iter()
        .find(|l| l["method"] == "GET" && l["route"] == "/users/{id}")
        .unwrap_or_else(|| {
            panic!(
                "GET /users/{{id}} is logged by its route: {:?}",
                session.raw
            )
        });
    assert_eq!(by_id["status"], json!(200));
    for line in &requests {
        let has_latency = line.as_object().is_some_and(|o| {
            o.iter()
                .any(|(k, v)| k.contains("latency") && v.is_number())
        });
        assert!(has_latency, "a latency field: {line}");
    }
}

#[test]
fn json_sign_in_log_line_names_the_account_the_client_address_and_the_outcome() {
    let session = json_log_session();
    let attempts: Vec<&Value> = session
        .lines
        .iter()
        .filter(|l| l.get("outcome").is_some())
        .collect();
    assert_eq!(attempts.len(), 2, "two sign-in attempts: {:?}", session.raw);
    let failed = attempts
        .iter()
        .find(|l| l["outcome"] != "success")
        .unwrap_or_else(|| panic!("a failed attempt: {:?}", session.raw));
    let succeeded = attempts
        .iter()
        .find(|l| l["outcome"] == "success")
        .unwrap_or_else(|| panic!("a successful attempt: {:?}", session.raw));
    for attempt in [failed, succeeded] {
        assert_eq!(attempt["account"], "ada@example.com", "{attempt}");
        assert_eq!(attempt["client"], "127.0.0.1", "{attempt}");
    }
}

#[test]
fn no_log_line_contains_the_password_or_the_access_token() {
    let session = json_log_session();
    assert!(!session.raw.is_empty());
    assert!(!session.token.is_empty(), "a token was issued");
    for line in &session.raw {
        assert!(!line.contains(PASSWORD), "password in the log: {line}");
        assert!(
            !line.contains(WRONG_PASSWORD),
            "wrong password in the log: {line}"
        );
        assert!(!line.contains(&session.token), "token in the log: {line}");
    }
}

#[test]
fn get_health_is_not_written_to_the_request_log() {
    let session = json_log_session();
    assert!(
        session.lines.iter().any(|l| l["route"] == "/health/ready"),
        "other requests are logged: {:?}",
        session.raw
    );
    assert!(
        !session.lines.iter().any(|l| l["route"] == "/health"),
        "GET /health in the log: {:?}",
        session.raw
    );
}

// ---------------------------------------------------------------- helpers

/// A `user-api serve` child process; killed when dropped.
struct Running {
    child: Child,
    addr: SocketAddr,
    stdout: Receiver<String>,
    stdout_seen: Vec<String>,
    stderr: Option<JoinHandle<Vec<String>>>,
}

impl Running {
    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Sends `SIG{name}` with the `kill` command (no libc in this crate).
    fn signal(&self, name: &str) {
        let sent = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("the kill command runs");
        assert!(sent.success(), "kill -{name} {}", self.child.id());
    }

    fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("child status").is_none()
    }

    /// The exit status, once the process has exited within `PATIENCE`.
    fn wait_for_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().expect("child status") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "user-api still running after {PATIENCE:?}"
            );
            thread::sleep(POLL);
        }
    }

    /// Everything the process wrote to stdout; call after it exited.
    fn stdout_lines(&mut self) -> Vec<String> {
        while let Ok(line) = self.stdout.recv_timeout(PATIENCE) {
            self.stdout_seen.push(line);
        }
        self.stdout_seen.clone()
    }

    /// Everything the process wrote to stderr; call after it exited.
    fn stderr_lines(&mut self) -> Vec<String> {
        self.stderr
            .take()
            .map(|h| h.join().expect("stderr reader"))
            .unwrap_or_default()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `user-api ARGS` in `cwd` with `env` added to a clean environment,
/// and waits for the line `user-api listening on http://ADDR`.
fn spawn_binary<S: AsRef<OsStr>>(args: &[S], env: &[(&str, &str)], cwd: &Path) -> Running {
    let mut child = user_api(args, env, cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("user-api starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let (lines, stdout_rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let stderr = child.stderr.take().expect("piped stderr");
    let stderr = thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });
    let mut running = Running {
        child,
        addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        stdout: stdout_rx,
        stdout_seen: Vec::new(),
        stderr: Some(stderr),
    };
    let deadline = Instant::now() + PATIENCE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match running.stdout.recv_timeout(left) {
            Ok(line) => {
                running.stdout_seen.push(line.clone());
                if let Some(addr) = line.strip_prefix("user-api listening on http://") {
                    running.addr = addr.trim().parse().expect("a socket address");
                    return running;
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                panic!("no listening line within {PATIENCE:?}")
            }
            Err(RecvTimeoutError::Disconnected) => {
                let status = running.wait_for_exit();
                panic!(
                    "user-api exited with {status} before listening: {:?}",
                    running.stderr_lines()
                )
            }
        }
    }
}

/// `user-api serve` on `dir/user-api.db`, port 0, cheap hashing, plus `flags`.
fn serve(dir: &TempDir, flags: &[&str], env: &[(&str, &str)]) -> Running {
    spawn_binary(&serve_args(dir, flags), env, dir.path())
}

/// `serve` with the test defaults (port 0, `dir/user-api.db`, cheap
/// hashing) for each flag that `flags` does not give itself.
fn serve_args(dir: &TempDir, flags: &[&str]) -> Vec<String> {
    let url = sqlite_url(&dir.path().join("user-api.db"));
    let defaults = [
        ("--listen", "127.0.0.1:0"),
        ("--database-url", url.as_str()),
        (CHEAP_HASHING[0], CHEAP_HASHING[1]),
        (CHEAP_HASHING[2], CHEAP_HASHING[3]),
    ];
    let mut args = vec!["serve".to_owned()];
    for (flag, value) in defaults {
        if !flags.contains(&flag) {
            args.extend([flag.to_owned(), value.to_owned()]);
        }
    }
    args.extend(flags.iter().map(|f| (*f).to_owned()));
    args
}

/// A process that ran to its end.
#[derive(Debug)]
struct Finished {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Finished {
    /// Exited by itself (not by a signal) with a non-zero code.
    fn failed(&self) -> bool {
        self.status.code().is_some_and(|c| c != 0)
    }

    fn stderr_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect()
    }
}

/// Runs `user-api ARGS` to its end (at most `PATIENCE`), feeding `stdin`.
/// `RUST_BACKTRACE=1`, so a panic could not hide as a short message.
fn run_to_exit<S: AsRef<OsStr> + std::fmt::Debug>(
    args: &[S],
    env: &[(&str, &str)],
    cwd: &Path,
    stdin: Option<&str>,
) -> Finished {
    let mut child = user_api(args, env, cwd)
        .env("RUST_BACKTRACE", "1")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("user-api starts");
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // The child may exit before reading it all; that is its answer.
        let _ = pipe.write_all(text.as_bytes());
    }
    let stdout = read_all(child.stdout.take().expect("piped stdout"));
    let stderr = read_all(child.stderr.take().expect("piped stderr"));
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = child.try_wait().expect("child status") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("user-api {args:?} still running after {PATIENCE:?}");
        }
        thread::sleep(POLL);
    };
    Finished {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

/// `user-api serve` in `dir` on `dir/user-api.db`, expected to stop by itself.
fn run_serve_to_exit(dir: &TempDir, flags: &[&str]) -> Finished {
    run_to_exit(&serve_args(dir, flags), &[], dir.path(), None)
}

/// `user-api admin create` on `dir/user-api.db` with `password` on stdin.
fn admin_create(dir: &TempDir, email: &str, password: &str, flags: &[&str]) -> Finished {
    let url = sqlite_url(&dir.path().join("user-api.db"));
    let mut args = vec![
        "admin",
        "create",
        "--email",
        email,
        "--name",
        "Admin",
        "--database-url",
        &url,
    ];
    args.extend(CHEAP_HASHING);
    args.extend(flags);
    run_to_exit(&args, &[], dir.path(), Some(&format!("{password}\n")))
}

fn read_all(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}

/// The binary with a clean slate: no inherited `USER_API_*` or `RUST_LOG`.
fn user_api<S: AsRef<OsStr>>(args: &[S], env: &[(&str, &str)], cwd: &Path) -> Command {
    let mut command = Command::new(binary());
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("USER_API_") {
            command.env_remove(name);
        }
    }
    command
        .env_remove("RUST_LOG")
        .args(args)
        .envs(env.iter().copied())
        .current_dir(cwd);
    command
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite:{}", path.display())
}

/// Raises `PRAGMA user_version` as a newer `user-api` would have.
fn set_schema_version(db: &Path, version: i64) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.pragma_update(None, "user_version", version).unwrap();
}

/// The text of `flag`'s entry in clap's help (whitespace collapsed, so line
/// wrapping does not matter), after its value name, up to the next flag.
fn help_entry(help: &str, flag: &str) -> Option<String> {
    let flat = help.split_whitespace().collect::<Vec<_>>().join(" ");
    let start = flat.find(&format!("{flag} <"))?;
    let after_flag = &flat[start..];
    let rest = &after_flag[after_flag.find('>')? + 1..];
    let end = rest.find(" --").unwrap_or(rest.len());
    Some(rest[..end].to_owned())
}

/// Calls `check` until it holds, at most `PATIENCE`; whether it held.
fn poll_until(mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        thread::sleep(POLL);
    }
    false
}

fn client() -> Client {
    Client::builder().timeout(PATIENCE).build().unwrap()
}

fn sign_up(app: &Running, email: &str, password: &str) -> Response {
    client()
        .post(app.url("/users"))
        .json(&json!({"email": email, "name": "Ada", "password": password}))
        .send()
        .unwrap()
}

fn sign_in(app: &Running, email: &str, password: &str) -> Response {
    client()
        .post(app.url("/token"))
        .form(&[("username", email), ("password", password)])
        .send()
        .unwrap()
}

/// A `POST /token` the service has started on but cannot finish: its body
/// is one byte short until `finish` sends the rest.
struct InFlight {
    stream: TcpStream,
    rest: Vec<u8>,
}

impl InFlight {
    fn sign_in(app: &Running, email: &str, password: &str) -> Self {
        let body = format!(
            "username={}&password={}",
            email.replace('@', "%40"),
            password.replace(' ', "+")
        );
        let head = format!(
            "POST /token HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            app.addr,
            body.len()
        );
        let (sent, rest) = body.as_bytes().split_at(body.len() - 1);
        let mut stream = TcpStream::connect(app.addr).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(sent).unwrap();
        // The kernel hands connections to `accept` in order, so once a later
        // connection is answered this one has been accepted and its headers,
        // already in the socket, read.
        let health = client().get(app.url("/health")).send().unwrap();
        assert_eq!(health.status(), StatusCode::OK);
        Self {
            stream,
            rest: rest.to_vec(),
        }
    }

    /// Sends the last byte; the response's status code and body.
    fn finish(mut self) -> (u16, String) {
        self.stream.write_all(&self.rest).unwrap();
        let mut response = String::new();
        let _ = self.stream.read_to_string(&mut response);
        let status = response
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or(0);
        let body = response
            .split_once("\r\n\r\n")
            .map_or(String::new(), |(_, b)| b.to_owned());
        (status, body)
    }
}

const WRONG_PASSWORD: &str = "not the password at all 1";

/// What `serve --log-format json` wrote to stderr during a short session.
struct LogSession {
    raw: Vec<String>,
    lines: Vec<Value>,
    token: String,
}

/// Health checks, a sign-up, a failed and a successful sign-in and two
/// authenticated reads, then SIGTERM; returns the whole stderr.
fn json_log_session() -> LogSession {
    let dir = tempfile::tempdir().unwrap();
    let mut app = serve(&dir, &["--log-format", "json"], &[]);
    let http = client();
    for _ in 0..3 {
        http.get(app.url("/health")).send().unwrap();
    }
    http.get(app.url("/health/ready")).send().unwrap();
    let user: Value = sign_up(&app, "ada@example.com", PASSWORD).json().unwrap();
    sign_in(&app, "Ada@Example.com", WRONG_PASSWORD);
    let token = sign_in(&app, "ada@example.com", PASSWORD)
        .json::<Value>()
        .unwrap()["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    http.get(app.url("/users/me"))
        .bearer_auth(&token)
        .send()
        .unwrap();
    http.get(app.url(&format!("/users/{}", user["id"])))
        .bearer_auth(&token)
        .send()
        .unwrap();
    app.signal("TERM");
    app.wait_for_exit();
    let raw = app.stderr_lines();
    let lines = raw
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or(Value::Null))
        .collect();
    LogSession { raw, lines, token }
}
