//! Reading: `GET /users/me` is the caller, and `GET /users/{id}` carries a
//! strong `ETag` that a `PATCH` changes; the `PATCH` response carries the new
//! one.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{etag, patch};
use crate::support::spawn_app;

#[tokio::test]
async fn get_me_returns_the_caller() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;
    app.user_with_token("grace@example.com").await;

    let response = app.get("/users/me", &token).await;

    assert_eq!(response.status(), StatusCode::OK);
    let me: Value = response.json().await.unwrap();
    assert_eq!(me["id"], id);
    assert_eq!(me["email"], "ada@example.com");
    assert_eq!(me["role"], "user");
    assert_eq!(me["is_active"], true);
}

#[tokio::test]
async fn get_user_returns_the_user_with_a_strong_etag() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;

    let response = app.get(&format!("/users/{id}"), &token).await;

    assert_eq!(response.status(), StatusCode::OK);
    let tag = etag(&response);
    assert!(
        !tag.starts_with("W/") && tag.len() > 2 && tag.starts_with('"') && tag.ends_with('"'),
        "a strong entity tag, got {tag}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["id"], id);
    assert_eq!(body["email"], "ada@example.com");
}

#[tokio::test]
async fn etag_changes_after_a_patch() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;
    let before = etag(&app.get(&format!("/users/{id}"), &token).await);

    let patched = patch(&app, id, &token, json!({"name": "Ada King"})).await;
    assert_eq!(patched.status(), StatusCode::OK);

    let after = etag(&app.get(&format!("/users/{id}"), &token).await);
    assert_ne!(before, after);
}

#[tokio::test]
async fn patch_returns_the_new_etag_that_a_following_get_returns() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;
    let before = etag(&app.get(&format!("/users/{id}"), &token).await);

    let patched = patch(&app, id, &token, json!({"name": "Ada King"})).await;

    assert_eq!(patched.status(), StatusCode::OK);
    let from_patch = etag(&patched);
    assert_ne!(from_patch, before, "the PATCH's ETag is the new one");
    let from_get = etag(&app.get(&format!("/users/{id}"), &token).await);
    assert_eq!(from_patch, from_get);
}
