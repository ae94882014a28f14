//! Database faults: a database that errors or stalls gives 503
//! problem+json with `Retry-After` fast, `/health/ready` 503, and the
//! service recovers by itself, without a restart, when the database comes
//! back (the contract's "Limits and behaviour under load").
//!
//! Tests run as root here, so no fault is made with file permissions (root
//! ignores them). Each one is made in a way root cannot bypass:
//!
//! - `lock`: a second connection, opened by the test on the service's file,
//!   holds SQLite's write lock (or its exclusive locking mode);
//! - `full`: `--sqlite-max-mib` caps the file (`PRAGMA max_page_count`), and
//!   sign-ups fill it, as a full disk would;
//! - `file`: the database file is removed, or another database is renamed
//!   over it, under the running service.
//!
//! "Fast" is asserted as a bound far below the request time limit (30 s by
//! default), never as a micro-timing: a 503 that only came from the time
//! limit would take 30 s and fail the bound, and says so in its `detail`.
//! The helpers here build requests, open the test's own connections and
//! wait; the assertions stay in the tests.

mod file;
mod full;
mod lock;

use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::header::RETRY_AFTER;
use reqwest::{RequestBuilder, Response, StatusCode};
use rusqlite::Connection;
use serde_json::{json, Value};

use crate::support::{problem, TestApp, PASSWORD};

/// A 503 must come within this, far below the 30 s request time limit.
pub(super) const FAST: Duration = Duration::from_secs(5);

/// How long the service may take to notice that the database is back.
pub(super) const RECOVERY: Duration = Duration::from_secs(5);

/// Asserts the contract's answer for a database that is down: 503,
/// problem+json, a `Retry-After` of whole seconds, and a `detail` that is
/// not the request time limit's.
pub(super) async fn assert_unavailable(response: Response, what: &str) {
    assert_eq!(
        response.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "{what}: status"
    );
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .unwrap_or_else(|| panic!("{what}: Retry-After header"))
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        retry_after.parse::<u64>().is_ok_and(|s| s >= 1),
        "{what}: Retry-After is whole seconds, got {retry_after:?}"
    );
    let body = problem(response).await;
    assert_eq!(body["status"], 503, "{what}: problem status");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(
        !detail.is_empty() && !detail.contains("time limit"),
        "{what}: a database 503, not the request time limit: {body}"
    );
}

/// Sends the request and returns its response with how long it took.
pub(super) async fn timed(request: RequestBuilder) -> (Response, Duration) {
    let started = Instant::now();
    let response = request.send().await.expect("request sent");
    (response, started.elapsed())
}

/// Sends the request; asserts it is answered 503 as `assert_unavailable`
/// says, within `FAST`. Returns how long it took.
pub(super) async fn assert_fails_fast(request: RequestBuilder, what: &str) -> Duration {
    let (response, took) = timed(request).await;
    assert!(
        took < FAST,
        "{what}: answered in {took:?}, not within {FAST:?}"
    );
    assert_unavailable(response, what).await;
    took
}

/// Polls `check` every 50 ms until it holds; panics after `limit`.
/// Returns how long it took.
pub(super) async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if check().await {
            return started.elapsed();
        }
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The status `GET /health/ready` answers now.
pub(super) async fn ready_status(app: &TestApp) -> StatusCode {
    app.client
        .get(app.url("/health/ready"))
        .send()
        .await
        .expect("request sent")
        .status()
}

/// `GET /health/ready`, to send (and time) later.
pub(super) fn ready(app: &TestApp) -> RequestBuilder {
    app.client.get(app.url("/health/ready"))
}

/// An anonymous sign-up of `email` with the test password.
pub(super) fn sign_up(app: &TestApp, email: &str) -> RequestBuilder {
    app.client.post(app.url("/users")).json(&json!({
        "email": email,
        "name": "Test User",
        "password": PASSWORD,
    }))
}

/// `PATCH /users/{id}` of the name, with the user's own token.
pub(super) fn rename(app: &TestApp, id: i64, token: &str, name: &str) -> RequestBuilder {
    app.client
        .patch(app.url(&format!("/users/{id}")))
        .bearer_auth(token)
        .json(&json!({ "name": name }))
}

/// `GET /users/me` with the token.
pub(super) fn me(app: &TestApp, token: &str) -> RequestBuilder {
    app.client.get(app.url("/users/me")).bearer_auth(token)
}

/// `POST /token` with a form body.
pub(super) fn sign_in(app: &TestApp, email: &str) -> RequestBuilder {
    app.client
        .post(app.url("/token"))
        .form(&[("username", email), ("password", PASSWORD)])
}

/// The status of a request sent now.
pub(super) async fn status_of(request: RequestBuilder) -> StatusCode {
    request.send().await.expect("request sent").status()
}

/// The response body as JSON, after checking the status.
pub(super) async fn json_of(response: Response, expected: StatusCode, what: &str) -> Value {
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    assert_eq!(status, expected, "{what}: {body}");
    serde_json::from_str(&body).expect("json body")
}

/// The test's own connection to a database file, as a second process
/// would have it; waits for locks up to a few seconds.
pub(super) fn connect(path: &Path) -> Connection {
    let conn = Connection::open(path).expect("test connection");
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn
}

/// The emails in the `users` table of the database file at `path`, read
/// with the test's own connection.
pub(super) fn emails_in(path: &Path) -> Vec<String> {
    let conn = connect(path);
    let mut stmt = conn.prepare("SELECT email FROM users ORDER BY id").unwrap();
    let emails = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<Vec<String>>>()
        .unwrap();
    emails
}

/// A consistent, self-contained copy of the database at `from` (WAL
/// included), written to `to` by `VACUUM INTO`: one file, no `-wal`.
pub(super) fn copy_database(from: &Path, to: &Path) {
    let conn = connect(from);
    conn.execute("VACUUM INTO ?1", [to.to_str().unwrap()])
        .expect("VACUUM INTO");
}

/// Removes the `-wal` and `-shm` files beside a database file, if any.
pub(super) fn remove_wal_and_shm(db: &Path) {
    for suffix in ["-wal", "-shm"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        match std::fs::remove_file(&name) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => panic!("remove {}: {e}", Path::new(&name).display()),
        }
    }
}
