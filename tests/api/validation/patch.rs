//! `PATCH /users/{id}` with hostile input: the body rules of sign-up (400, 415,
//! 413, 422 naming every field), and a refused change changes nothing.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::{error_fields, patch_json, send_raw, set, user_and_admin, LIMIT};
use crate::support::{problem, spawn_app};

#[tokio::test]
async fn patch_with_malformed_json_is_400_problem() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;

    let response = send_raw(
        &app,
        Method::PATCH,
        &format!("/users/{id}"),
        Some(&token),
        Some("application/json"),
        r#"{"name": "Ada"#,
    )
    .await;

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(problem(response).await["status"], 400);
    app.stop().await;
}

#[tokio::test]
async fn patch_with_text_plain_body_is_415_problem() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;

    let response = send_raw(
        &app,
        Method::PATCH,
        &format!("/users/{id}"),
        Some(&token),
        Some("text/plain"),
        r#"{"name": "Ada"}"#,
    )
    .await;

    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(problem(response).await["status"], 415);
    app.stop().await;
}

#[tokio::test]
async fn patch_with_body_over_65536_bytes_is_413_problem() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;
    let head = r#"{"name":""#;
    let body = format!("{head}{}\"}}", "x".repeat(LIMIT + 1 - head.len() - 2));
    assert_eq!(body.len(), LIMIT + 1);

    let response = send_raw(
        &app,
        Method::PATCH,
        &format!("/users/{id}"),
        Some(&token),
        Some("application/json"),
        body,
    )
    .await;

    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(problem(response).await["status"], 413);
    app.stop().await;
}

#[tokio::test]
async fn patch_with_json_array_body_is_422() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;

    let response = patch_json(&app, id, &token, &json!([{"name": "Ada"}])).await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem(response).await["status"], 422);
    app.stop().await;
}

#[tokio::test]
async fn patch_with_unknown_fields_is_422_naming_each() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;

    let response = patch_json(
        &app,
        id,
        &token,
        &json!({"name": "Ada", "id": 1, "created_at": "2000-01-01T00:00:00Z"}),
    )
    .await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        error_fields(&problem(response).await),
        set(&["created_at", "id"])
    );
    app.stop().await;
}

#[tokio::test]
async fn patch_with_wrong_types_is_422_naming_each() {
    let app = spawn_app().await;
    let (id, _, admin) = user_and_admin(&app).await;

    let response = patch_json(
        &app,
        id,
        &admin,
        &json!({"email": 7, "name": null, "is_active": 1, "role": ["admin"]}),
    )
    .await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        error_fields(&problem(response).await),
        set(&["email", "is_active", "name", "role"])
    );
    app.stop().await;
}

#[tokio::test]
async fn patch_with_several_invalid_values_is_422_naming_every_one() {
    let app = spawn_app().await;
    let (id, _, admin) = user_and_admin(&app).await;

    let response = patch_json(
        &app,
        id,
        &admin,
        &json!({"email": "nope", "name": "Ada\nLovelace", "password": "short", "role": "root"}),
    )
    .await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        error_fields(&problem(response).await),
        set(&["email", "name", "password", "role"])
    );
    app.stop().await;
}

#[tokio::test]
async fn patch_that_fails_validation_changes_nothing() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;

    let response = patch_json(
        &app,
        id,
        &token,
        &json!({"name": "Grace", "email": "not-an-email"}),
    )
    .await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let me: Value = app.get("/users/me", &token).await.json().await.unwrap();
    assert_eq!(me["name"], "Test User");
    assert_eq!(me["email"], "ada@example.com");
    app.stop().await;
}
