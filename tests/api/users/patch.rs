//! `PATCH /users/{id}`: users change their own name and email, and an email
//! taken by another user, in any case, is refused.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{patch, user};
use crate::support::{problem, spawn_app, PASSWORD};

#[tokio::test]
async fn a_user_changes_their_own_name_and_a_get_shows_it() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;

    let response = patch(&app, id, &token, json!({"name": "Ada King"})).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["name"], "Ada King");
    assert_eq!(user(&app, id, &token).await["name"], "Ada King");
}

#[tokio::test]
async fn a_user_changes_their_own_email_with_current_password_and_a_get_shows_it() {
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
        response.json::<Value>().await.unwrap()["email"],
        "ada.king@example.com"
    );
    assert_eq!(
        user(&app, id, &token).await["email"],
        "ada.king@example.com"
    );
}

#[tokio::test]
async fn patch_email_to_one_taken_in_another_case_is_400_email_already_registered() {
    let app = spawn_app().await;
    app.sign_up("ada@example.com").await;
    let (id, token) = app.user_with_token("grace@example.com").await;

    let response = patch(
        &app,
        id,
        &token,
        json!({"email": "ADA@Example.COM", "current_password": PASSWORD}),
    )
    .await;

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        problem(response).await["detail"],
        "Email already registered"
    );
    assert_eq!(user(&app, id, &token).await["email"], "grace@example.com");
}

#[tokio::test]
async fn a_taken_email_sent_with_a_new_password_changes_nothing_and_is_400() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    app.sign_up("ada@example.com").await;
    let (id, token) = app.user_with_token("grace@example.com").await;
    let other_session = app.token("grace@example.com", PASSWORD).await;
    let events_before = events(&app, &admin).await;

    let response = patch(
        &app,
        id,
        &token,
        json!({
            "email": "ada@example.com",
            "password": "marmalade lighthouse 2031",
            "current_password": PASSWORD
        }),
    )
    .await;

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        problem(response).await["detail"],
        "Email already registered"
    );
    // Nothing of the change happened: the email, the password, the other
    // session (a new password would have ended it), no event.
    assert_eq!(
        user(&app, id, &other_session).await["email"],
        "grace@example.com"
    );
    assert_eq!(
        app.login("grace@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
    assert_eq!(events(&app, &admin).await, events_before);
}

/// Every event the feed holds (`GET /events` as an admin).
async fn events(app: &crate::support::TestApp, admin: &str) -> Vec<Value> {
    let response = app.get("/events?limit=1000", admin).await;
    assert_eq!(response.status(), StatusCode::OK, "GET /events as an admin");
    response.json().await.unwrap()
}
