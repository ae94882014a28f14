//! Role and activity changes take effect on the next request: the same token
//! gains or loses listing, a deactivated user's tokens end and they cannot sign
//! in, and reactivation does not revive the old tokens.

use reqwest::header::WWW_AUTHENTICATE;
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{header, list, patch};
use crate::support::{spawn_app, PASSWORD};

#[tokio::test]
async fn promoting_a_user_lets_their_same_token_list_users() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, token) = app.user_with_token("ada@example.com").await;
    assert_eq!(
        list(&app, &token, &[]).await.status(),
        StatusCode::FORBIDDEN
    );

    let promoted = patch(&app, id, &admin, json!({"role": "admin"})).await;
    assert_eq!(promoted.status(), StatusCode::OK);

    assert_eq!(list(&app, &token, &[]).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn demoting_an_admin_takes_away_listing_on_their_next_request() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, token) = app.user_with_token("ada@example.com").await;
    let promoted = patch(&app, id, &admin, json!({"role": "admin"})).await;
    assert_eq!(promoted.status(), StatusCode::OK);
    assert_eq!(list(&app, &token, &[]).await.status(), StatusCode::OK);

    let demoted = patch(&app, id, &admin, json!({"role": "user"})).await;
    assert_eq!(demoted.status(), StatusCode::OK);

    assert_eq!(
        list(&app, &token, &[]).await.status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_deactivated_users_token_is_401_invalid_token() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, token) = app.user_with_token("ada@example.com").await;
    let deactivated = patch(&app, id, &admin, json!({"is_active": false})).await;
    assert_eq!(deactivated.status(), StatusCode::OK);

    let response = app.get("/users/me", &token).await;

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = header(&response, WWW_AUTHENTICATE).unwrap_or_default();
    assert!(
        challenge.starts_with("Bearer") && challenge.contains("error=\"invalid_token\""),
        "{challenge}"
    );
}

#[tokio::test]
async fn a_deactivated_user_cannot_log_in() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = app.sign_up("ada@example.com").await["id"].as_i64().unwrap();
    let deactivated = patch(&app, id, &admin, json!({"is_active": false})).await;
    assert_eq!(deactivated.status(), StatusCode::OK);

    let response = app.login("ada@example.com", PASSWORD).await;

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
}

/// Observed and intended: deactivation deletes the user's tokens, so
/// reactivating them needs a fresh sign-in; an old token stays dead.
#[tokio::test]
async fn reactivating_a_user_does_not_revive_their_old_tokens() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, old_token) = app.user_with_token("ada@example.com").await;
    let off = patch(&app, id, &admin, json!({"is_active": false})).await;
    assert_eq!(off.status(), StatusCode::OK);
    let on = patch(&app, id, &admin, json!({"is_active": true})).await;
    assert_eq!(on.status(), StatusCode::OK);

    let response = app.get("/users/me", &old_token).await;

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let fresh = app.token("ada@example.com", PASSWORD).await;
    assert_eq!(
        app.get("/users/me", &fresh).await.status(),
        StatusCode::OK,
        "a reactivated user signs in again"
    );
}
