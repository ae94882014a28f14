//! `DELETE /users/{id}`: 204, after which the user is 404 and their token 401;
//! ids are never handed out again.

use reqwest::StatusCode;

use super::delete;
use crate::support::{problem, spawn_app};

#[tokio::test]
async fn delete_is_204_and_then_the_user_is_404() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, token) = app.user_with_token("ada@example.com").await;

    let response = delete(&app, id, &token, None).await;

    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let gone = app.get(&format!("/users/{id}"), &admin).await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    problem(gone).await;
}

#[tokio::test]
async fn a_deleted_users_token_is_401() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;
    let deleted = delete(&app, id, &token, None).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);

    let response = app.get("/users/me", &token).await;

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn ids_are_never_reused_even_after_deleting_the_highest() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    app.sign_up("ada@example.com").await;
    let highest = app.sign_up("grace@example.com").await["id"]
        .as_i64()
        .unwrap();
    let deleted = delete(&app, highest, &admin, None).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);

    let next = app.sign_up("edsger@example.com").await["id"]
        .as_i64()
        .unwrap();

    assert!(next > highest, "new id {next} after deleted {highest}");
}
