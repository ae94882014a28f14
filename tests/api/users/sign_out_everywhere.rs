//! `DELETE /users/{id}/tokens`: the user, or an admin, ends every access
//! token of the user at once (the caller's own too, when it is theirs);
//! anyone else gets 404 as for any user they may not see. The change emits
//! `user.signed_out` with reason `sign_out_everywhere` and the user's
//! version unchanged.

use reqwest::{Response, StatusCode};
use serde_json::json;

use crate::events::{events_after, last_seq, types};
use crate::support::{problem, spawn_app, TestApp, PASSWORD};

async fn end_tokens(app: &TestApp, id: i64, token: Option<&str>) -> Response {
    let mut request = app.client.delete(app.url(&format!("/users/{id}/tokens")));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

async fn status_of_me(app: &TestApp, token: &str) -> StatusCode {
    app.get("/users/me", token).await.status()
}

#[tokio::test]
async fn a_user_signing_out_everywhere_ends_every_token_including_the_one_used() {
    let app = spawn_app().await;
    let (id, first) = app.user_with_token("ada@example.com").await;
    let second = app.token("ada@example.com", PASSWORD).await;
    let (_, someone_else) = app.user_with_token("grace@example.com").await;

    let response = end_tokens(&app, id, Some(&first)).await;

    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(status_of_me(&app, &first).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status_of_me(&app, &second).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status_of_me(&app, &someone_else).await, StatusCode::OK);
    // Signing in again works: the account itself is untouched.
    let fresh = app.token("ada@example.com", PASSWORD).await;
    assert_eq!(status_of_me(&app, &fresh).await, StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn an_admin_ends_another_users_tokens_and_keeps_their_own() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, token) = app.user_with_token("ada@example.com").await;

    let response = end_tokens(&app, id, Some(&admin)).await;

    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(status_of_me(&app, &token).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status_of_me(&app, &admin).await, StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn a_user_ending_someone_elses_tokens_gets_404_and_ends_nothing() {
    let app = spawn_app().await;
    let (_, mallory) = app.user_with_token("mallory@example.com").await;
    let (victim, victims_token) = app.user_with_token("ada@example.com").await;

    let response = end_tokens(&app, victim, Some(&mallory)).await;

    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    problem(response).await;
    assert_eq!(status_of_me(&app, &victims_token).await, StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn without_a_token_it_is_401_and_for_an_unknown_user_404() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, token) = app.user_with_token("ada@example.com").await;

    let anonymous = end_tokens(&app, id, None).await;
    let unknown = end_tokens(&app, id + 1000, Some(&admin)).await;

    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    problem(unknown).await;
    assert_eq!(status_of_me(&app, &token).await, StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn signing_out_everywhere_emits_signed_out_with_its_reason_and_the_same_version() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, token) = app.user_with_token("ada@example.com").await;
    let before = last_seq(&app, &admin).await;

    end_tokens(&app, id, Some(&token)).await;

    let events = events_after(&app, &admin, before).await;
    assert_eq!(types(&events), ["user.signed_out"]);
    assert_eq!(
        events[0]["data"],
        json!({"user": {"id": id, "version": 1}, "reason": "sign_out_everywhere"})
    );
    let user: serde_json::Value = app
        .get(&format!("/users/{id}"), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        user["updated_at"], user["created_at"],
        "the resource did not change"
    );
    app.stop().await;
}
