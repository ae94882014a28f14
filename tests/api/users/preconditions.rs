//! `If-Match` on `PATCH` and `DELETE /users/{id}`: the current `ETag` or `*`
//! lets the change through; a stale one is 412 and changes nothing.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{delete, etag, patch, patch_if_match, user};
use crate::support::{problem, spawn_app};

#[tokio::test]
async fn patch_with_if_match_equal_to_the_current_etag_is_200() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;
    let current = etag(&app.get(&format!("/users/{id}"), &token).await);

    let response = patch_if_match(
        &app,
        id,
        &token,
        Some(&current),
        json!({"name": "Ada King"}),
    )
    .await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(user(&app, id, &token).await["name"], "Ada King");
}

#[tokio::test]
async fn patch_with_stale_if_match_is_412_and_changes_nothing() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;
    let stale = etag(&app.get(&format!("/users/{id}"), &token).await);
    let first = patch(&app, id, &token, json!({"name": "Ada King"})).await;
    assert_eq!(first.status(), StatusCode::OK);
    let current = etag(&first);

    let response =
        patch_if_match(&app, id, &token, Some(&stale), json!({"name": "Ada Byron"})).await;

    assert_eq!(response.status(), StatusCode::PRECONDITION_FAILED);
    problem(response).await;
    let after = app.get(&format!("/users/{id}"), &token).await;
    assert_eq!(etag(&after), current);
    assert_eq!(after.json::<Value>().await.unwrap()["name"], "Ada King");
}

#[tokio::test]
async fn patch_with_if_match_star_is_200() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;

    let response = patch_if_match(&app, id, &token, Some("*"), json!({"name": "Ada King"})).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(user(&app, id, &token).await["name"], "Ada King");
}

#[tokio::test]
async fn delete_with_stale_if_match_is_412_and_the_user_remains() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;
    let stale = etag(&app.get(&format!("/users/{id}"), &token).await);
    let changed = patch(&app, id, &token, json!({"name": "Ada King"})).await;
    assert_eq!(changed.status(), StatusCode::OK);

    let response = delete(&app, id, &token, Some(&stale)).await;

    assert_eq!(response.status(), StatusCode::PRECONDITION_FAILED);
    problem(response).await;
    let still = app.get(&format!("/users/{id}"), &token).await;
    assert_eq!(still.status(), StatusCode::OK);
}
