//! The ceiling for user-api's authenticated `GET /users/{id}` (issue 14):
//! axum on a multi-thread tokio runtime, rusqlite on user-api's own store,
//! and per request only what the contract cannot do without: the bearer
//! token's SHA-256, the token lookup (the same join user-api makes), the
//! rule "yourself or an admin", the user read when it is someone else, and
//! the resource's JSON. No logging, metrics, time limits, caps or headers
//! beyond axum's own. The reads run inline on the async worker with a
//! per-thread connection and cached statements, as MEASURED.md found fastest.

use std::cell::RefCell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::Path;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row};
use serde::Serialize;
use sha2::{Digest, Sha256};

static DB: std::sync::OnceLock<String> = std::sync::OnceLock::new();

thread_local! {
    static CONN: RefCell<Option<Connection>> = const { RefCell::new(None) };
}

const COLUMNS: &str = "u.id, u.email, u.name, u.role, u.is_active, u.created_at, u.updated_at, u.email_verified";

#[derive(Serialize)]
struct UserOut {
    id: i64,
    email: String,
    name: String,
    role: String,
    is_active: bool,
    email_verified: bool,
    created_at: String,
    updated_at: String,
}

fn rfc3339(unix: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_secs(u64::try_from(unix).unwrap_or(0));
    humantime::format_rfc3339_seconds(t).to_string()
}

fn user(row: &Row<'_>) -> rusqlite::Result<UserOut> {
    Ok(UserOut {
        id: row.get(0)?,
        email: row.get(1)?,
        name: row.get(2)?,
        role: row.get(3)?,
        is_active: row.get(4)?,
        created_at: rfc3339(row.get(5)?),
        updated_at: rfc3339(row.get(6)?),
        email_verified: row.get(7)?,
    })
}

fn with_conn<T>(f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    CONN.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            let c = Connection::open_with_flags(
                DB.get().expect("database path"),
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            c.busy_timeout(Duration::from_secs(5))?;
            *slot = Some(c);
        }
        f(slot.as_ref().unwrap())
    })
}

async fn user_by_id(Path(id): Path<i64>, headers: HeaderMap) -> Response {
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    let found = with_conn(|c| {
        let caller = c
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM tokens t JOIN users u ON u.id = t.user_id
                 WHERE t.hash = ?1 AND t.expires_at > ?2 AND u.is_active = 1"
            ))?
            .query_row(rusqlite::params![hash, now], user)
            .optional()?;
        let Some(caller) = caller else { return Ok(Err(StatusCode::UNAUTHORIZED)) };
        if caller.id == id {
            return Ok(Ok(caller));
        }
        if caller.role != "admin" {
            // As user-api: another user's id is not found, not forbidden.
            return Ok(Err(StatusCode::NOT_FOUND));
        }
        let other = c
            .prepare_cached(&format!("SELECT {COLUMNS} FROM users u WHERE u.id = ?1"))?
            .query_row([id], user)
            .optional()?;
        Ok(other.ok_or(StatusCode::NOT_FOUND))
    });
    match found {
        Ok(Ok(u)) => axum::Json(u).into_response(),
        Ok(Err(status)) => status.into_response(),
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mut listen = String::from("127.0.0.1:8000");
    let mut db = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => listen = args.next().expect("--listen needs an address"),
            "--database" => db = Some(args.next().expect("--database needs a path")),
            other => panic!("unknown argument {other}"),
        }
    }
    DB.set(db.expect("--database PATH (a user-api SQLite store)")).unwrap();
    // `/health` only so the harness sees it is up.
    let app = Router::new()
        .route("/health", get(|| async { r#"{"status":"healthy"}"# }))
        .route("/users/{id}", get(user_by_id));
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .unwrap_or_else(|e| panic!("cannot listen on {listen}: {e}"));
    println!("axum-ceiling listening on http://{listen}");
    axum::serve(listener, app).await.expect("server error");
}
