//! `serve --log-format json`: every stderr line is a JSON object; request lines
//! carry method, route, status and latency, sign-in lines the account, client
//! address and outcome; no password or token is written, and `GET /health` is
//! not logged.

use serde_json::{json, Value};

use super::{client, secrets_stay_out_of_the_log, serve, sign_in, sign_up};
use crate::support::PASSWORD;

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

#[test]
fn a_username_with_a_line_break_cannot_forge_a_text_log_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = serve(&dir, &["--log-format", "text"], &[]);
    let forged =
        "x\nFORGED user_api::audit: sign-in attempt account=admin@example.com outcome=\"success\"";
    sign_in(&app, forged, WRONG_PASSWORD);
    app.signal("TERM");
    app.wait_for_exit();
    let lines = app.stderr_lines();
    assert!(
        lines.iter().any(|l| l.contains("sign-in attempt")),
        "the attempt is logged: {lines:?}"
    );
    assert!(
        !lines.iter().any(|l| l.to_lowercase().starts_with("forged")),
        "a line break in the username started a line of its own: {lines:?}"
    );
}

#[test]
fn a_username_that_is_no_email_is_logged_as_a_dash_and_an_email_is_quoted() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = serve(&dir, &["--log-format", "text"], &[]);
    // A password typed in the username box must not reach the log.
    sign_in(&app, "my secret passphrase 42", WRONG_PASSWORD);
    // `=` is valid in a local part: unquoted, it would read as a field.
    sign_in(&app, "outcome=success@example.com", WRONG_PASSWORD);
    app.signal("TERM");
    app.wait_for_exit();
    let lines = app.stderr_lines();
    let attempts: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("sign-in attempt"))
        .collect();
    assert_eq!(attempts.len(), 2, "{lines:?}");
    assert!(attempts[0].contains("account=\"-\""), "{}", attempts[0]);
    assert!(
        attempts[1].contains("account=\"outcome=success@example.com\""),
        "{}",
        attempts[1]
    );
    assert!(
        !lines.iter().any(|l| l.contains("my secret passphrase")),
        "{lines:?}"
    );
}

/// Secrets stay out of the log at every level, a dependency's `trace`
/// output included (on PostgreSQL, `tests/api_postgres/logs.rs`).
#[test]
fn nothing_at_trace_level_prints_a_password_a_token_or_a_hash() {
    let dir = tempfile::tempdir().unwrap();
    let app = serve(&dir, &["--log-format", "text"], &[("RUST_LOG", "trace")]);
    secrets_stay_out_of_the_log(app);
}
