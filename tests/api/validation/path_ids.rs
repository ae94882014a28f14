//! User ids in the path: anything but a positive 64-bit integer is 422, in
//! `GET`, `PATCH` and `DELETE`.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::request;
use crate::support::{problem, spawn_app};

/// `GET /users/{raw}` with a regular user's valid token: 422 problem.
async fn assert_user_id_refused(raw: &str) {
    let app = spawn_app().await;
    let (_, token) = app.user_with_token("ada@example.com").await;

    let response = app.get(&format!("/users/{raw}"), &token).await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{raw}");
    assert_eq!(problem(response).await["status"], 422);
    app.stop().await;
}

#[tokio::test]
async fn user_id_that_is_not_a_number_is_422() {
    assert_user_id_refused("abc").await;
}

#[tokio::test]
async fn user_id_0_is_422() {
    assert_user_id_refused("0").await;
}

#[tokio::test]
async fn negative_user_id_is_422() {
    assert_user_id_refused("-1").await;
}

#[tokio::test]
async fn user_id_beyond_64_bits_is_422() {
    assert_user_id_refused("99999999999999999999").await;
}

#[tokio::test]
async fn malformed_user_id_in_patch_and_delete_is_422() {
    let app = spawn_app().await;
    let (_, token) = app.user_with_token("ada@example.com").await;

    for method in [Method::PATCH, Method::DELETE] {
        let response = request(&app, method.clone(), "/users/abc", Some(&token))
            .json(&json!({"name": "Ada"}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{method}"
        );
        assert_eq!(problem(response).await["status"], 422);
    }
    app.stop().await;
}
