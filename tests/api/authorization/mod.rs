//! Who may read, change and delete whom: regular users see only themselves
//! (others' ids are 404, as if they did not exist), only admins list users
//! and change `role` and `is_active`, changing one's own email or password
//! takes `current_password`, and no token or a hostile `Authorization` header
//! is 401, never a 500.
//!
//! One file per rule. The helpers here send requests and return responses;
//! the tests assert.

mod admin;
mod current_password;
mod no_token;
mod regular_user;
mod role_at_creation;

use reqwest::Response;
use serde_json::Value;

use crate::support::TestApp;

pub(super) const NEW_PASSWORD: &str = "marmalade lighthouse 2031";

pub(super) async fn patch(app: &TestApp, id: i64, token: &str, body: Value) -> Response {
    app.client
        .patch(app.url(&format!("/users/{id}")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

pub(super) async fn user(app: &TestApp, id: i64, token: &str) -> Value {
    app.get(&format!("/users/{id}"), token)
        .await
        .json()
        .await
        .unwrap()
}
