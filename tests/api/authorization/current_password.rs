//! Changing one's own email or password takes `current_password`: without it,
//! or with a wrong one, 403 and nothing changes.

use reqwest::StatusCode;
use serde_json::json;

use super::{patch, user, NEW_PASSWORD};
use crate::support::{problem, spawn_app, PASSWORD};

const WRONG_PASSWORD: &str = "not the password at all 55";

#[tokio::test]
async fn changing_own_password_without_current_password_is_403() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;

    let response = patch(&app, id, &token, json!({"password": NEW_PASSWORD})).await;

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    problem(response).await;
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status(),
        StatusCode::OK,
        "the old password still works"
    );
}

#[tokio::test]
async fn changing_own_password_with_a_wrong_current_password_is_403() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;

    let response = patch(
        &app,
        id,
        &token,
        json!({"password": NEW_PASSWORD, "current_password": WRONG_PASSWORD}),
    )
    .await;

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    problem(response).await;
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status(),
        StatusCode::OK,
        "the old password still works"
    );
}

#[tokio::test]
async fn changing_own_password_with_the_right_current_password_is_200() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;

    let response = patch(
        &app,
        id,
        &token,
        json!({"password": NEW_PASSWORD, "current_password": PASSWORD}),
    )
    .await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        app.login("ada@example.com", NEW_PASSWORD).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status(),
        StatusCode::BAD_REQUEST,
        "the old password no longer works"
    );
}

#[tokio::test]
async fn changing_own_email_without_current_password_is_403() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;

    let response = patch(&app, id, &token, json!({"email": "ada.king@example.com"})).await;

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    problem(response).await;
    assert_eq!(user(&app, id, &token).await["email"], "ada@example.com");
}

#[tokio::test]
async fn changing_own_email_with_a_wrong_current_password_is_403() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;

    let response = patch(
        &app,
        id,
        &token,
        json!({"email": "ada.king@example.com", "current_password": WRONG_PASSWORD}),
    )
    .await;

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    problem(response).await;
    assert_eq!(user(&app, id, &token).await["email"], "ada@example.com");
}

#[tokio::test]
async fn changing_own_email_with_the_right_current_password_is_200() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;

    let response = patch(
        &app,
        id,
        &token,
        json!({"email": "ada.king@example.com", "current_password": PASSWORD}),
    )
    .await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        app.login("ada.king@example.com", PASSWORD).await.status(),
        StatusCode::OK,
        "signs in with the new email"
    );
}
