//! `role` in a sign-up: unknown to an anonymous caller or a regular user (422),
//! honoured from an admin.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{assert_invalid, error_message, post_user_as, signup};
use crate::support::{spawn_app, PASSWORD};

#[tokio::test]
async fn signup_with_role_from_an_anonymous_caller_is_422_naming_role_as_unknown() {
    let app = spawn_app().await;
    let mut body = signup("ada@example.com", "Ada");
    body["role"] = json!("admin");

    let response = app.post_user(&body).await;

    let problem = assert_invalid(response, &["role"]).await;
    assert!(error_message(&problem, "role").contains("unknown"));
    app.stop().await;
}

#[tokio::test]
async fn signup_with_role_user_from_an_anonymous_caller_is_422_too() {
    let app = spawn_app().await;
    let mut body = signup("ada@example.com", "Ada");
    body["role"] = json!("user");

    let response = app.post_user(&body).await;

    assert_invalid(response, &["role"]).await;
    app.stop().await;
}

#[tokio::test]
async fn signup_with_role_from_a_regular_users_token_is_422_naming_role_as_unknown() {
    let app = spawn_app().await;
    let (_, token) = app.user_with_token("mallory@example.com").await;
    let mut body = signup("ada@example.com", "Ada");
    body["role"] = json!("admin");

    let response = post_user_as(&app, &token, &body).await;

    let problem = assert_invalid(response, &["role"]).await;
    assert!(error_message(&problem, "role").contains("unknown"));
    app.stop().await;
}

#[tokio::test]
async fn an_admin_may_create_an_admin() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let mut body = signup("grace@example.com", "Grace");
    body["role"] = json!("admin");

    let response = post_user_as(&app, &admin, &body).await;

    assert_eq!(response.status(), StatusCode::CREATED);
    let user: Value = response.json().await.unwrap();
    assert_eq!(user["role"], "admin");
    let token = app.token("grace@example.com", PASSWORD).await;
    assert_eq!(app.get("/users", &token).await.status(), StatusCode::OK);
    app.stop().await;
}
