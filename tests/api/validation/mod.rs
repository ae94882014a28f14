//! Hostile and malformed input: bodies, media types, sizes, field types,
//! query parameters and path ids. Every error is problem+json with `status`,
//! `title` and `detail`, names every bad field, and shows nothing internal.
//!
//! One file per kind of input; the helpers here build and send requests.

mod bodies;
mod errors;
mod fields;
mod patch;
mod path_ids;
mod query;

use std::collections::BTreeSet;

use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;

use crate::support::{TestApp, PASSWORD};

/// The contract's body limit.
pub(super) const LIMIT: usize = 65_536;

/// A request with an optional bearer token.
pub(super) fn request(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
) -> RequestBuilder {
    let builder = app.client.request(method, app.url(path));
    match token {
        Some(token) => builder.bearer_auth(token),
        None => builder,
    }
}

/// Sends `body` as it is, with the given `Content-Type` (none when `None`).
pub(super) async fn send_raw(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> Response {
    let mut builder = request(app, method, path, token).body(body);
    if let Some(content_type) = content_type {
        builder = builder.header("content-type", content_type);
    }
    builder.send().await.unwrap()
}

/// `POST /users` with a raw JSON body.
pub(super) async fn post_json_text(app: &TestApp, body: impl Into<reqwest::Body>) -> Response {
    send_raw(
        app,
        Method::POST,
        "/users",
        None,
        Some("application/json"),
        body,
    )
    .await
}

pub(super) async fn patch_json(app: &TestApp, id: i64, token: &str, body: &Value) -> Response {
    request(app, Method::PATCH, &format!("/users/{id}"), Some(token))
        .json(body)
        .send()
        .await
        .unwrap()
}

/// A sign-up body of exactly `size` bytes, its name padded (and so too long).
pub(super) fn signup_body_of_size(size: usize) -> Vec<u8> {
    let head = format!(r#"{{"email":"ada@example.com","password":"{PASSWORD}","name":""#);
    let tail = r#""}"#;
    let body = format!("{head}{}{tail}", "x".repeat(size - head.len() - tail.len()));
    assert_eq!(body.len(), size);
    body.into_bytes()
}

/// The `field` of every entry of a validation problem's `errors`.
pub(super) fn error_fields(problem: &Value) -> BTreeSet<String> {
    problem["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors array in {problem}"))
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect()
}

pub(super) fn set(fields: &[&str]) -> BTreeSet<String> {
    fields.iter().map(|f| f.to_string()).collect()
}

/// A regular user's id and token, and an admin's token.
pub(super) async fn user_and_admin(app: &TestApp) -> (i64, String, String) {
    let admin = app.admin_token().await;
    let (id, token) = app.user_with_token("ada@example.com").await;
    (id, token, admin)
}
