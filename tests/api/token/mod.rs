//! `POST /token`, `POST /token/revoke` and bearer tokens: how they are
//! issued, sent, refused and ended.
//!
//! One file per stage of a token's life. The helpers here send requests and
//! return responses; `assert_token_works` and `assert_token_refused` check a
//! token on `GET /users/me`.

mod end;
mod issue;
mod send;

use reqwest::{Response, StatusCode};
use serde_json::Value;

use crate::support::{problem, TestApp};

pub(super) const EMAIL: &str = "ada@example.com";

pub(super) const REALM: &str = "Bearer realm=\"user-api\"";

/// The contract's challenge for a malformed, expired or revoked token.
pub(super) const INVALID_TOKEN: &str = "Bearer error=\"invalid_token\"";

pub(super) async fn patch(app: &TestApp, id: i64, token: &str, body: &Value) -> Response {
    app.client
        .patch(app.url(&format!("/users/{id}")))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap()
}

pub(super) fn header(response: &Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
        .to_owned()
}

/// Asserts `GET /users/me` with `token` is 401 `invalid_token`.
pub(super) async fn assert_token_refused(app: &TestApp, token: &str) {
    let response = app.get("/users/me", token).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = header(&response, "www-authenticate");
    assert_eq!(challenge, INVALID_TOKEN);
    assert_eq!(problem(response).await["status"], 401);
}

/// Asserts `GET /users/me` with `token` is 200 and answers `email`.
pub(super) async fn assert_token_works(app: &TestApp, token: &str, email: &str) {
    let response = app.get("/users/me", token).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["email"], email);
}
