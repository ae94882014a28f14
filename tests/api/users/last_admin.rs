//! The last active admin may not demote, deactivate or delete themself (409).
//! An inactive second admin does not count; an active one does.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{delete, id_of, patch, user};
use crate::support::{problem, spawn_app, ADMIN_PASSWORD};

#[tokio::test]
async fn the_only_active_admin_demoting_themself_is_409() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = id_of(&app, &admin).await;

    let response = patch(&app, id, &admin, json!({"role": "user"})).await;

    assert_eq!(response.status(), StatusCode::CONFLICT);
    problem(response).await;
    assert_eq!(user(&app, id, &admin).await["role"], "admin");
}

#[tokio::test]
async fn the_only_active_admin_deactivating_themself_is_409() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = id_of(&app, &admin).await;

    let response = patch(&app, id, &admin, json!({"is_active": false})).await;

    assert_eq!(response.status(), StatusCode::CONFLICT);
    problem(response).await;
    assert_eq!(user(&app, id, &admin).await["is_active"], true);
}

#[tokio::test]
async fn the_only_active_admin_deleting_themself_is_409() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = id_of(&app, &admin).await;

    let response = delete(&app, id, &admin, None).await;

    assert_eq!(response.status(), StatusCode::CONFLICT);
    problem(response).await;
    assert_eq!(
        app.get(&format!("/users/{id}"), &admin).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_inactive_second_admin_does_not_count_for_the_last_admin_rule() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = id_of(&app, &admin).await;
    let other = app.create_admin("boss@example.com", ADMIN_PASSWORD).await;
    let deactivated = patch(&app, other, &admin, json!({"is_active": false})).await;
    assert_eq!(deactivated.status(), StatusCode::OK);

    let response = patch(&app, id, &admin, json!({"role": "user"})).await;

    assert_eq!(response.status(), StatusCode::CONFLICT);
}

#[tokio::test]
async fn with_a_second_active_admin_an_admin_may_demote_themself() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = id_of(&app, &admin).await;
    app.create_admin("boss@example.com", ADMIN_PASSWORD).await;

    let response = patch(&app, id, &admin, json!({"role": "user"})).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["role"], "user");
}

#[tokio::test]
async fn with_a_second_active_admin_an_admin_may_deactivate_themself() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = id_of(&app, &admin).await;
    app.create_admin("boss@example.com", ADMIN_PASSWORD).await;

    let response = patch(&app, id, &admin, json!({"is_active": false})).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["is_active"], false);
}

#[tokio::test]
async fn with_a_second_active_admin_an_admin_may_delete_themself() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = id_of(&app, &admin).await;
    app.create_admin("boss@example.com", ADMIN_PASSWORD).await;
    let boss = app.token("boss@example.com", ADMIN_PASSWORD).await;

    let response = delete(&app, id, &admin, None).await;

    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get(&format!("/users/{id}"), &boss).await.status(),
        StatusCode::NOT_FOUND
    );
}
