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

/// A proxy or log reader that takes the first copy of a key must never see
/// another request than the service: a repeated key is refused, named.
#[tokio::test]
async fn a_repeated_key_in_a_sign_up_is_422_naming_it_and_creates_nothing() {
    let app = spawn_app().await;
    let body = format!(
        r#"{{"email": "ada@example.com", "name": "Ada", "password": "{PASSWORD}", "role": "user", "email": "eve@example.com"}}"#
    );

    let response = post_json_text(&app, body).await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let fields = error_fields(&problem(response).await);
    assert!(fields.contains("email"), "{fields:?}");
    let admin = app.admin_token().await;
    let listed: serde_json::Value = app
        .get("/users?q=example.com", &admin)
        .await
        .json()
        .await
        .unwrap();
    let emails: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u["email"].as_str())
        .collect();
    assert!(
        !emails.contains(&"ada@example.com") && !emails.contains(&"eve@example.com"),
        "{emails:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_key_repeated_under_a_json_escape_is_still_a_repeated_key() {
    let app = spawn_app().await;
    // `"n\u0061me"` is `"name"` once decoded.
    let body = format!(
        r#"{{"email": "ada@example.com", "name": "Ada", "n\u0061me": "Eve", "password": "{PASSWORD}"}}"#
    );

    let response = post_json_text(&app, body).await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&problem(response).await), set(&["name"]));
    app.stop().await;
}

#[tokio::test]
async fn a_repeated_key_in_a_patch_is_422_and_changes_nothing() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;

    let response = send_raw(
        &app,
        Method::PATCH,
        &format!("/users/{id}"),
        Some(&token),
        Some("application/json"),
        r#"{"name": "Ada King", "name": "Ada Lovelace"}"#,
    )
    .await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&problem(response).await), set(&["name"]));
    let user: serde_json::Value = app
        .get(&format!("/users/{id}"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(user["name"], "Test User");
    app.stop().await;
}
