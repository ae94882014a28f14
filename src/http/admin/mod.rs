//! `/admin`: the admin console, HTML served by the binary. Server-rendered
//! pages (maud templates: every value escaped unless wrapped in
//! `PreEscaped`, which no user value ever is) with plain forms that post,
//! then redirect (303) to a page that says what happened; one stylesheet
//! and one small script (the live events view), compiled in. No CDN, no
//! Node.js, and the pages work without script.
//!
//! Must not: decide anything. Every action goes through the same
//! `accounts` use cases as the API (and so `domain::policy`, the sign-in
//! throttle, the last-admin rule, `If-Match`, the audit log); errors are
//! the API's own (`problem.rs` maps them), shown next to what caused them.

mod events;
mod forms;
mod pages;
mod session;
mod users;
mod views;

use axum::extract::Request;
use axum::http::{header, HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use super::state::AppState;

pub use session::COOKIE;

/// The console's stylesheet and script, compiled into the binary.
const STYLESHEET: &str = include_str!("assets/console.css");
const SCRIPT: &str = include_str!("assets/console.js");

/// Every route under `/admin`. State-changing requests pass the `Origin`
/// check first (`session::same_origin`); pages carry the HTML security
/// headers (`http::html::secure_headers`, added by the caller).
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/admin", get(|| async { Redirect::to("/admin/users") }))
        .route("/admin/", get(|| async { Redirect::to("/admin/users") }))
        .route(
            "/admin/sign-in",
            get(session::sign_in_page).post(session::sign_in),
        )
        .route("/admin/sign-out", post(session::sign_out))
        .route("/admin/users", get(users::list).post(users::create))
        .route("/admin/users/{id}", get(users::show).post(users::edit))
        .route("/admin/users/{id}/password", post(users::set_password))
        .route("/admin/users/{id}/sessions", post(users::end_sessions))
        .route(
            "/admin/users/{id}/delete",
            get(users::confirm_delete).post(users::delete),
        )
        .route("/admin/events", get(events::page))
        .route("/admin/events/stream", get(events::stream))
        .route("/admin/assets/console.css", get(stylesheet))
        .route("/admin/assets/console.js", get(script))
        .layer(middleware::from_fn_with_state(state, guard))
}

/// Before any handler: a state-changing request must come from the
/// console's own pages (`Origin`), else 403. After: pages are never cached
/// (they show accounts; a shared computer's back button must not).
async fn guard(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        if let Some(refused) = session::same_origin(&state, &request) {
            return refused;
        }
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", STYLESHEET)
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// A compiled-in file. `no-cache`: revalidated on every load, so a new
/// binary's files are never mixed with an old page; they are a few KiB.
fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}
