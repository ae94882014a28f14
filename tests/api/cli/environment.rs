//! The `USER_API_*` environment variables stand for their flags: a value taken
//! from the environment takes effect, and a bad one stops `serve` as a bad flag
//! does.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{client, run_to_exit, serve, sign_in, sign_up, spawn_binary, sqlite_url};
use crate::support::PASSWORD;

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
