//! `--signup closed`: an anonymous caller gets 401 before the body is looked
//! at, a regular user 403, and an admin still creates users.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{post_user_as, signup};
use crate::support::{problem, spawn_app_with, PASSWORD};

#[tokio::test]
async fn closed_signup_answers_401_before_looking_at_an_invalid_body() {
    let app = spawn_app_with(&["--signup", "closed"]).await;

    let response = app
        .post_user(&json!({"email": "nope", "password": "short", "role": "admin"}))
        .await;

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}

#[tokio::test]
async fn closed_signup_refuses_an_anonymous_caller_with_401() {
    let app = spawn_app_with(&["--signup", "closed"]).await;

    let response = app.post_user(&signup("ada@example.com", "Ada")).await;

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer realm=\"user-api\""
    );
    assert_eq!(problem(response).await["status"], 401);
    app.stop().await;
}

#[tokio::test]
async fn closed_signup_refuses_a_regular_user_with_403() {
    let app = spawn_app_with(&["--signup", "closed"]).await;
    let admin = app.admin_token().await;
    let created = post_user_as(&app, &admin, &signup("bob@example.com", "Bob")).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let token = app.token("bob@example.com", PASSWORD).await;

    let response = post_user_as(&app, &token, &signup("ada@example.com", "Ada")).await;

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(problem(response).await["status"], 403);
    app.stop().await;
}

#[tokio::test]
async fn closed_signup_lets_an_admin_create_a_user() {
    let app = spawn_app_with(&["--signup", "closed"]).await;
    let admin = app.admin_token().await;

    let response = post_user_as(&app, &admin, &signup("ada@example.com", "Ada")).await;

    assert_eq!(response.status(), StatusCode::CREATED);
    let user: Value = response.json().await.unwrap();
    assert_eq!(user["email"], "ada@example.com");
    assert_eq!(user["role"], "user");
    app.stop().await;
}
