//! `POST /users`: sign-up, an admin creating accounts, `--signup closed`, and
//! the rules of email, name and password.
//!
//! One file per rule. The helpers here build bodies and send requests, and
//! `assert_invalid` checks the shape of a 422.

mod canonical_email;
mod closed;
mod created;
mod email;
mod guessable;
mod name;
mod password;
mod roles;
mod unique_email;

use std::collections::BTreeSet;

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use crate::support::{problem, TestApp, PASSWORD};

/// `POST /users` as the holder of `token`.
pub(super) async fn post_user_as(app: &TestApp, token: &str, body: &Value) -> Response {
    app.client
        .post(app.url("/users"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// A sign-up body with `PASSWORD` and the given email and name.
pub(super) fn signup(email: &str, name: &str) -> Value {
    json!({"email": email, "name": name, "password": PASSWORD})
}

/// The `field` of every entry of a validation problem's `errors`.
fn error_fields(problem: &Value) -> BTreeSet<String> {
    problem["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors array in {problem}"))
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect()
}

/// The message of the `errors` entry about `field`.
pub(super) fn error_message(problem: &Value, field: &str) -> String {
    problem["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors array in {problem}"))
        .iter()
        .find(|e| e["field"] == field)
        .unwrap_or_else(|| panic!("no error about {field} in {problem}"))["message"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub(super) fn set(fields: &[&str]) -> BTreeSet<String> {
    fields.iter().map(|f| f.to_string()).collect()
}

/// The whole body as one problem about exactly these fields, with status 422.
pub(super) async fn assert_invalid(response: Response, fields: &[&str]) -> Value {
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = problem(response).await;
    assert_eq!(body["status"], 422);
    assert_eq!(error_fields(&body), set(fields), "{body}");
    body
}
