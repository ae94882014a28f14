//! Ending: revoking, changing the password, the TTL running out, and deleting
//! or deactivating the user each end tokens, and only the ones they should.

use std::time::Duration;

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use super::{assert_token_refused, assert_token_works, header, patch, EMAIL, REALM};
use crate::support::{spawn_app, spawn_app_with, TestApp, PASSWORD};

async fn delete(app: &TestApp, id: i64, token: &str) -> Response {
    app.client
        .delete(app.url(&format!("/users/{id}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn revoke(app: &TestApp, token: &str) -> Response {
    app.client
        .post(app.url("/token/revoke"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn revoked_token_is_401_invalid_token() {
    let app = spawn_app().await;
    app.sign_up(EMAIL).await;
    let token = app.token(EMAIL, PASSWORD).await;
    assert_token_works(&app, &token, EMAIL).await;

    let response = revoke(&app, &token).await;

    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_token_refused(&app, &token).await;
    app.stop().await;
}

#[tokio::test]
async fn revoking_one_token_leaves_the_users_other_tokens_working() {
    let app = spawn_app().await;
    app.sign_up(EMAIL).await;
    let revoked = app.token(EMAIL, PASSWORD).await;
    let kept = app.token(EMAIL, PASSWORD).await;

    let response = revoke(&app, &revoked).await;

    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_token_refused(&app, &revoked).await;
    assert_token_works(&app, &kept, EMAIL).await;
    app.stop().await;
}

#[tokio::test]
async fn revoke_without_a_token_is_401() {
    let app = spawn_app().await;

    let response = app
        .client
        .post(app.url("/token/revoke"))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(&response, "www-authenticate"), REALM);
    app.stop().await;
}

#[tokio::test]
async fn changing_own_password_keeps_the_token_used_and_ends_the_others() {
    let app = spawn_app().await;
    let (id, used) = app.user_with_token(EMAIL).await;
    let other = app.token(EMAIL, PASSWORD).await;
    let new_password = "a completely new passphrase 2";

    let response = patch(
        &app,
        id,
        &used,
        &json!({"password": new_password, "current_password": PASSWORD}),
    )
    .await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_token_works(&app, &used, EMAIL).await;
    assert_token_refused(&app, &other).await;
    assert_eq!(
        app.login(EMAIL, new_password).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.login(EMAIL, PASSWORD).await.status(),
        StatusCode::BAD_REQUEST
    );
    app.stop().await;
}

#[tokio::test]
async fn an_admin_setting_a_users_password_ends_all_their_tokens() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, first) = app.user_with_token(EMAIL).await;
    let second = app.token(EMAIL, PASSWORD).await;

    let response = patch(
        &app,
        id,
        &admin,
        &json!({"password": "set by the admin for ada 3"}),
    )
    .await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_token_refused(&app, &first).await;
    assert_token_refused(&app, &second).await;
    assert_token_works(&app, &admin, crate::support::ADMIN_EMAIL).await;
    app.stop().await;
}

#[tokio::test]
async fn token_ttl_of_one_second_is_announced_as_expires_in_1() {
    let app = spawn_app_with(&["--token-ttl", "1s"]).await;
    app.sign_up(EMAIL).await;

    let response = app.login(EMAIL, PASSWORD).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["expires_in"], 1);
    app.stop().await;
}

#[tokio::test]
async fn token_stops_working_once_its_lifetime_is_over() {
    let app = spawn_app_with(&["--token-ttl", "1s"]).await;
    app.sign_up(EMAIL).await;
    let token = app.token(EMAIL, PASSWORD).await;

    // Poll for at most about 5 s: a 1 s token must be refused well before.
    let mut last = StatusCode::OK;
    for _ in 0..50 {
        last = app.get("/users/me", &token).await.status();
        if last == StatusCode::UNAUTHORIZED {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    assert_eq!(last, StatusCode::UNAUTHORIZED, "token outlived its 1 s TTL");
    assert_token_refused(&app, &token).await;
    app.stop().await;
}

#[tokio::test]
async fn deleting_a_user_ends_their_tokens() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, token) = app.user_with_token(EMAIL).await;
    assert_token_works(&app, &token, EMAIL).await;

    let response = delete(&app, id, &admin).await;

    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_token_refused(&app, &token).await;
    app.stop().await;
}

#[tokio::test]
async fn deleting_yourself_ends_your_tokens() {
    let app = spawn_app().await;
    let (id, used) = app.user_with_token(EMAIL).await;
    let other = app.token(EMAIL, PASSWORD).await;

    let response = delete(&app, id, &used).await;

    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_token_refused(&app, &used).await;
    assert_token_refused(&app, &other).await;
    app.stop().await;
}

#[tokio::test]
async fn deactivating_a_user_ends_their_tokens() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, token) = app.user_with_token(EMAIL).await;

    let response = patch(&app, id, &admin, &json!({"is_active": false})).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_token_refused(&app, &token).await;
    app.stop().await;
}
