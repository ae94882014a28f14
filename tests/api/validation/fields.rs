//! The fields of a JSON body: unknown, missing, mistyped and invalid fields are
//! one 422 that names every one.

use reqwest::StatusCode;
use serde_json::json;

use super::{error_fields, patch_json, set, user_and_admin};
use crate::support::{problem, spawn_app, PASSWORD};

#[tokio::test]
async fn unknown_fields_are_422_naming_each() {
    let app = spawn_app().await;

    let response = app
        .post_user(&json!({
            "email": "ada@example.com",
            "name": "Ada",
            "password": PASSWORD,
            "nickname": "countess",
            "is_active": false,
        }))
        .await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = problem(response).await;
    assert_eq!(error_fields(&body), set(&["is_active", "nickname"]));
    app.stop().await;
}

#[tokio::test]
async fn number_for_email_is_422_naming_email() {
    let app = spawn_app().await;

    let response = app
        .post_user(&json!({"email": 42, "name": "Ada", "password": PASSWORD}))
        .await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&problem(response).await), set(&["email"]));
    app.stop().await;
}

#[tokio::test]
async fn null_for_name_is_422_naming_name() {
    let app = spawn_app().await;

    let response = app
        .post_user(&json!({"email": "ada@example.com", "name": null, "password": PASSWORD}))
        .await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&problem(response).await), set(&["name"]));
    app.stop().await;
}

#[tokio::test]
async fn missing_fields_are_422_naming_each() {
    let app = spawn_app().await;

    let response = app.post_user(&json!({})).await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        error_fields(&problem(response).await),
        set(&["email", "name", "password"])
    );
    app.stop().await;
}

#[tokio::test]
async fn several_bad_fields_at_once_are_422_naming_every_one() {
    let app = spawn_app().await;

    let response = app
        .post_user(&json!({
            "email": "not-an-email",
            "name": "   ",
            "password": "short",
            "colour": "blue",
        }))
        .await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = problem(response).await;
    assert_eq!(
        error_fields(&body),
        set(&["colour", "email", "name", "password"])
    );
    for error in body["errors"].as_array().unwrap() {
        assert!(
            !error["message"].as_str().unwrap().is_empty(),
            "{error} has no message"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn string_for_is_active_in_patch_is_422_naming_is_active() {
    let app = spawn_app().await;
    let (id, _, admin) = user_and_admin(&app).await;

    let response = patch_json(&app, id, &admin, &json!({"is_active": "false"})).await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&problem(response).await), set(&["is_active"]));
    app.stop().await;
}
