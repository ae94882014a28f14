//! The body of `POST /users`: malformed JSON is 400, a media type other than
//! JSON is 415, more than 65,536 bytes is 413, and JSON that is not an object
//! is 422.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{error_fields, post_json_text, send_raw, set, signup_body_of_size, LIMIT};
use crate::support::{problem, spawn_app, PASSWORD};

#[tokio::test]
async fn malformed_json_is_400_problem() {
    let app = spawn_app().await;

    let response = post_json_text(&app, r#"{"email": "ada@example.com", "name": "#).await;

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = problem(response).await;
    assert_eq!(body["status"], 400);
    assert!(body["detail"].is_string());
    app.stop().await;
}

#[tokio::test]
async fn text_plain_body_is_415_problem() {
    let app = spawn_app().await;
    let json = json!({"email": "ada@example.com", "name": "Ada", "password": PASSWORD});

    let response = send_raw(
        &app,
        Method::POST,
        "/users",
        None,
        Some("text/plain"),
        json.to_string(),
    )
    .await;

    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(problem(response).await["status"], 415);
    app.stop().await;
}

#[tokio::test]
async fn body_without_content_type_is_415_problem() {
    let app = spawn_app().await;
    let json = json!({"email": "ada@example.com", "name": "Ada", "password": PASSWORD});

    let response = send_raw(&app, Method::POST, "/users", None, None, json.to_string()).await;

    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(problem(response).await["status"], 415);
    app.stop().await;
}

#[tokio::test]
async fn json_content_type_with_charset_is_accepted() {
    let app = spawn_app().await;
    let json = json!({"email": "ada@example.com", "name": "Ada", "password": PASSWORD});

    let response = send_raw(
        &app,
        Method::POST,
        "/users",
        None,
        Some("application/json; charset=utf-8"),
        json.to_string(),
    )
    .await;

    assert_eq!(response.status(), StatusCode::CREATED);
    app.stop().await;
}

#[tokio::test]
async fn body_over_65536_bytes_is_413_problem() {
    let app = spawn_app().await;

    let response = post_json_text(&app, signup_body_of_size(LIMIT + 1)).await;

    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(problem(response).await["status"], 413);
    app.stop().await;
}

#[tokio::test]
async fn body_of_exactly_65536_bytes_is_read_and_validated() {
    let app = spawn_app().await;

    let response = post_json_text(&app, signup_body_of_size(LIMIT)).await;

    // Not 413: the body is read, and its only fault is the name's length.
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&problem(response).await), set(&["name"]));
    app.stop().await;
}

#[tokio::test]
async fn json_array_body_is_422() {
    let app = spawn_app().await;

    let response = post_json_text(
        &app,
        json!([{"email": "ada@example.com", "name": "Ada", "password": PASSWORD}]).to_string(),
    )
    .await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem(response).await["status"], 422);
    app.stop().await;
}

#[tokio::test]
async fn json_string_body_is_422() {
    let app = spawn_app().await;

    let response = post_json_text(&app, r#""ada@example.com""#).await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem(response).await["status"], 422);
    app.stop().await;
}
