//! "A refused or rolled-back change never has [an event]": every refusal of
//! a sign-up, a PATCH or a DELETE leaves the feed as it was.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{events_after, id, last_seq, NEW_PASSWORD};
use crate::support::{spawn_app, PASSWORD};
use crate::users::{delete, etag, id_of, patch, patch_if_match};

const NONE: Vec<Value> = Vec::new();

#[tokio::test]
async fn a_sign_up_with_a_taken_email_is_400_and_emits_no_event() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    app.sign_up("ada@example.com").await;
    let before = last_seq(&app, &admin).await;

    let response = app
        .post_user(&json!({"email": "ADA@example.com", "name": "Ada", "password": PASSWORD}))
        .await;

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(events_after(&app, &admin, before).await, NONE);
}

#[tokio::test]
async fn a_sign_up_with_invalid_fields_is_422_and_emits_no_event() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let before = last_seq(&app, &admin).await;

    let response = app
        .post_user(&json!({"email": "not an email", "name": "", "password": "short"}))
        .await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(events_after(&app, &admin, before).await, NONE);
}

#[tokio::test]
async fn a_patch_to_a_taken_email_is_400_and_emits_no_event() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    app.sign_up("ada@example.com").await;
    let grace = app.sign_up("grace@example.com").await;
    let before = last_seq(&app, &admin).await;

    let response = patch(
        &app,
        id(&grace),
        &admin,
        json!({"email": "ada@example.com", "name": "Grace Hopper"}),
    )
    .await;

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(events_after(&app, &admin, before).await, NONE);
}

#[tokio::test]
async fn a_user_changing_their_own_role_is_403_and_emits_no_event() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, token) = app.user_with_token("ada@example.com").await;
    let before = last_seq(&app, &admin).await;

    let response = patch(&app, id, &token, json!({"role": "admin"})).await;

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(events_after(&app, &admin, before).await, NONE);
}

#[tokio::test]
async fn a_password_change_with_a_wrong_current_password_is_403_and_emits_no_event() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, token) = app.user_with_token("ada@example.com").await;
    let before = last_seq(&app, &admin).await;

    let response = patch(
        &app,
        id,
        &token,
        json!({"password": NEW_PASSWORD, "current_password": "not the password at all 55"}),
    )
    .await;

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(events_after(&app, &admin, before).await, NONE);
}

#[tokio::test]
async fn the_last_admin_demoting_themself_is_409_and_emits_no_event() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let me = id_of(&app, &admin).await;
    let before = last_seq(&app, &admin).await;

    let response = patch(&app, me, &admin, json!({"role": "user"})).await;

    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(events_after(&app, &admin, before).await, NONE);
}

#[tokio::test]
async fn the_last_admin_deleting_themself_is_409_and_emits_no_event() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let me = id_of(&app, &admin).await;
    let before = last_seq(&app, &admin).await;

    let response = delete(&app, me, &admin, None).await;

    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(events_after(&app, &admin, before).await, NONE);
}

#[tokio::test]
async fn a_patch_with_a_stale_if_match_is_412_and_emits_no_event() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, token) = app.user_with_token("ada@example.com").await;
    let stale = etag(&app.get(&format!("/users/{id}"), &token).await);
    let first = patch(&app, id, &token, json!({"name": "Ada King"})).await;
    assert_eq!(first.status(), StatusCode::OK);
    let before = last_seq(&app, &admin).await;

    let response =
        patch_if_match(&app, id, &token, Some(&stale), json!({"name": "Ada Byron"})).await;

    assert_eq!(response.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(events_after(&app, &admin, before).await, NONE);
}

#[tokio::test]
async fn a_delete_with_a_stale_if_match_is_412_and_emits_no_event() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, token) = app.user_with_token("ada@example.com").await;
    let stale = etag(&app.get(&format!("/users/{id}"), &token).await);
    let first = patch(&app, id, &token, json!({"name": "Ada King"})).await;
    assert_eq!(first.status(), StatusCode::OK);
    let before = last_seq(&app, &admin).await;

    let response = delete(&app, id, &token, Some(&stale)).await;

    assert_eq!(response.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(events_after(&app, &admin, before).await, NONE);
}

#[tokio::test]
async fn a_patch_with_an_invalid_name_is_422_and_emits_no_event() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, token) = app.user_with_token("ada@example.com").await;
    let before = last_seq(&app, &admin).await;

    let response = patch(&app, id, &token, json!({"name": "   "})).await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(events_after(&app, &admin, before).await, NONE);
}

#[tokio::test]
async fn a_patch_valid_in_one_field_and_invalid_in_another_is_422_and_emits_no_event() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, token) = app.user_with_token("ada@example.com").await;
    let before = last_seq(&app, &admin).await;

    let response = patch(
        &app,
        id,
        &token,
        json!({"name": "Ada King", "email": "not an email", "current_password": PASSWORD}),
    )
    .await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(events_after(&app, &admin, before).await, NONE);
}
