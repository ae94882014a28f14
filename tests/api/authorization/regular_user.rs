//! A regular user sees and changes only themself: listing is 403, another
//! user's id is the same 404 as a missing one, and their own `role` and
//! `is_active` are not theirs to change (403).

use reqwest::{Response, StatusCode};
use serde_json::json;

use super::{patch, user};
use crate::support::{problem, spawn_app, TestApp};

async fn delete(app: &TestApp, id: i64, token: &str) -> Response {
    app.client
        .delete(app.url(&format!("/users/{id}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// An id no user has.
const MISSING_ID: i64 = 999_999;

#[tokio::test]
async fn a_user_listing_users_is_403() {
    let app = spawn_app().await;
    let (_, token) = app.user_with_token("ada@example.com").await;

    let response = app.get("/users", &token).await;

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    problem(response).await;
}

#[tokio::test]
async fn a_user_getting_another_user_gets_the_same_404_as_for_a_missing_id() {
    let app = spawn_app().await;
    let (_, token) = app.user_with_token("ada@example.com").await;
    let other = app.sign_up("grace@example.com").await["id"]
        .as_i64()
        .unwrap();

    let response = app.get(&format!("/users/{other}"), &token).await;
    let missing = app.get(&format!("/users/{MISSING_ID}"), &token).await;

    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(problem(response).await, problem(missing).await);
}

#[tokio::test]
async fn a_user_patching_another_user_gets_the_same_404_as_for_a_missing_id() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, token) = app.user_with_token("ada@example.com").await;
    let other = app.sign_up("grace@example.com").await["id"]
        .as_i64()
        .unwrap();

    let response = patch(&app, other, &token, json!({"name": "Mallory"})).await;
    let missing = patch(&app, MISSING_ID, &token, json!({"name": "Mallory"})).await;

    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(problem(response).await, problem(missing).await);
    assert_eq!(user(&app, other, &admin).await["name"], "Test User");
}

#[tokio::test]
async fn a_user_deleting_another_user_gets_the_same_404_as_for_a_missing_id() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, token) = app.user_with_token("ada@example.com").await;
    let other = app.sign_up("grace@example.com").await["id"]
        .as_i64()
        .unwrap();

    let response = delete(&app, other, &token).await;
    let missing = delete(&app, MISSING_ID, &token).await;

    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(problem(response).await, problem(missing).await);
    assert_eq!(
        app.get(&format!("/users/{other}"), &admin).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_user_changing_their_own_role_is_403_and_changes_nothing() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;
    let before = user(&app, id, &token).await;

    let response = patch(&app, id, &token, json!({"role": "admin"})).await;

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    problem(response).await;
    assert_eq!(user(&app, id, &token).await, before);
    assert_eq!(
        app.get("/users", &token).await.status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_user_changing_their_own_is_active_is_403_and_changes_nothing() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;
    let before = user(&app, id, &token).await;

    let response = patch(&app, id, &token, json!({"is_active": false})).await;

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    problem(response).await;
    assert_eq!(user(&app, id, &token).await, before);
}
