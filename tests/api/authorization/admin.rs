//! Admins change another user's password, email, role and activity without
//! `current_password`, but their own password only with it.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{patch, user, NEW_PASSWORD};
use crate::support::{problem, spawn_app, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD};

async fn id_of(app: &TestApp, token: &str) -> i64 {
    user_me(app, token).await["id"].as_i64().unwrap()
}

async fn user_me(app: &TestApp, token: &str) -> Value {
    app.get("/users/me", token).await.json().await.unwrap()
}

#[tokio::test]
async fn an_admin_sets_another_users_password_without_current_password() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = app.sign_up("ada@example.com").await["id"].as_i64().unwrap();

    let response = patch(&app, id, &admin, json!({"password": NEW_PASSWORD})).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        app.login("ada@example.com", NEW_PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_admin_changes_another_users_email_without_current_password() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = app.sign_up("ada@example.com").await["id"].as_i64().unwrap();

    let response = patch(&app, id, &admin, json!({"email": "ada.king@example.com"})).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        user(&app, id, &admin).await["email"],
        "ada.king@example.com"
    );
}

#[tokio::test]
async fn an_admin_changes_another_users_role_without_current_password() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = app.sign_up("ada@example.com").await["id"].as_i64().unwrap();

    let response = patch(&app, id, &admin, json!({"role": "admin"})).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(user(&app, id, &admin).await["role"], "admin");
}

#[tokio::test]
async fn an_admin_changes_another_users_is_active_without_current_password() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = app.sign_up("ada@example.com").await["id"].as_i64().unwrap();

    let response = patch(&app, id, &admin, json!({"is_active": false})).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(user(&app, id, &admin).await["is_active"], false);
}

#[tokio::test]
async fn an_admin_changing_their_own_password_without_current_password_is_403() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = id_of(&app, &admin).await;

    let response = patch(&app, id, &admin, json!({"password": NEW_PASSWORD})).await;

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    problem(response).await;
    assert_eq!(
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.status(),
        StatusCode::OK,
        "the old password still works"
    );
}

#[tokio::test]
async fn an_admin_changing_their_own_password_with_current_password_is_200() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = id_of(&app, &admin).await;

    let response = patch(
        &app,
        id,
        &admin,
        json!({"password": NEW_PASSWORD, "current_password": ADMIN_PASSWORD}),
    )
    .await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        app.login(ADMIN_EMAIL, NEW_PASSWORD).await.status(),
        StatusCode::OK
    );
}
