//! `/users`, `/users/me` and `/users/{id}`: reading, listing, changing and
//! deleting users; `ETag`/`If-Match`; the last-admin rule; when role and
//! activity changes take effect. Who may do what is `authorization/`.
//!
//! One file per part of the resource. The helpers here send requests and
//! return responses; the tests assert.

mod counts;
mod delete;
mod filter;
mod last_admin;
mod list;
mod patch;
mod preconditions;
mod read;
mod search;
mod sign_out_everywhere;
mod takes_effect;

use reqwest::header::{ETAG, IF_MATCH};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use crate::support::{TestApp, PASSWORD};

/// Signs up `email` with `name`; returns the new id (setup, so 201 is
/// required).
pub(super) async fn sign_up_named(app: &TestApp, email: &str, name: &str) -> i64 {
    let response = app
        .post_user(&json!({"email": email, "name": name, "password": PASSWORD}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED, "sign-up of {email}");
    response.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap()
}

/// `GET /users` with these query parameters (encoded by the client).
pub(super) async fn list(app: &TestApp, token: &str, query: &[(&str, &str)]) -> Response {
    app.client
        .get(app.url("/users"))
        .query(query)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

pub(super) async fn patch(app: &TestApp, id: i64, token: &str, body: Value) -> Response {
    patch_if_match(app, id, token, None, body).await
}

pub(super) async fn patch_if_match(
    app: &TestApp,
    id: i64,
    token: &str,
    if_match: Option<&str>,
    body: Value,
) -> Response {
    let mut request = app
        .client
        .patch(app.url(&format!("/users/{id}")))
        .bearer_auth(token)
        .json(&body);
    if let Some(tag) = if_match {
        request = request.header(IF_MATCH, tag);
    }
    request.send().await.unwrap()
}

pub(super) async fn delete(
    app: &TestApp,
    id: i64,
    token: &str,
    if_match: Option<&str>,
) -> Response {
    let mut request = app
        .client
        .delete(app.url(&format!("/users/{id}")))
        .bearer_auth(token);
    if let Some(tag) = if_match {
        request = request.header(IF_MATCH, tag);
    }
    request.send().await.unwrap()
}

/// The id of the token's holder, from `GET /users/me`.
pub(super) async fn id_of(app: &TestApp, token: &str) -> i64 {
    let me: Value = app.get("/users/me", token).await.json().await.unwrap();
    me["id"].as_i64().unwrap()
}

pub(super) async fn user(app: &TestApp, id: i64, token: &str) -> Value {
    app.get(&format!("/users/{id}"), token)
        .await
        .json()
        .await
        .unwrap()
}

pub(super) async fn ids(response: Response) -> Vec<i64> {
    let users: Vec<Value> = response.json().await.unwrap();
    users.iter().map(|u| u["id"].as_i64().unwrap()).collect()
}

pub(super) fn header(
    response: &Response,
    name: impl reqwest::header::AsHeaderName,
) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

pub(super) fn etag(response: &Response) -> String {
    header(response, ETAG).expect("ETag header")
}
